// The layerlock library API: everything the CLI does, for TypeScript programs.
export type * from './nn/config.js';
export { parseCfg, loadCfg, CfgError } from './nn/cfg.js';
export { encodeWeights, decodeWeights, loadWeightsFile, saveWeightsFile, WeightsError, type WeightsHeader, type WeightsLayer } from './nn/weights.js';
export { Network, isTrainable, type NetworkOptions, type TrainableLayer } from './nn/network.js';
export type { Layer, Shape, PassContext, UpdateArgs, ParamTensor } from './nn/layer.js';
export { loadModel, saveModel, DEFAULT_SEED, type ModelOptions } from './nn/model.js';
export { train, evaluate, evaluateWith, predict, networkStepper, type Stepper, type BatchScore, type HiddenLoss, type TrainOptions, type TrainResult, type EvalResult, type Prediction, type BatchProgress, type EpochResult } from './nn/train.js';
export { learningRateAt } from './nn/lr.js';
export { Rng } from './nn/rng.js';
export * from './data/index.js';
export { getKernels, setKernels } from './kernels/index.js';
export { referenceKernels } from './kernels/reference.js';
export type { Kernels, ConvGeometry, PoolGeometry } from './kernels/types.js';
// The software TEE (DESIGN.md §5): GP client API, protocol constants, partitioned networks.
export * from './tee/shared/protocol.js';
export {
  initializeContext, TeecContext, TeecSession, TeecError, DEFAULT_SECURE_MEM, taLaunch,
  type ContextOptions, type TeecOperation, type TeecParameter, type TeecValue, type TeecTempMemoryReference, type TranscriptEntry, type Traffic,
} from './tee/client.js';
export { PartitionedNetwork, openPartitioned, type PartitionedOptions } from './tee/partitioned.js';
export { rangeRoles, predictionLayer, forwardOutputBytes, PartitionError, type RangeRoles } from './tee/shared/roles.js';
export { fitSuggestions, type PartitionSpec } from './tee/ta/partition.js';
export { secureFootprint, workspaceNeed, keepsInput } from './tee/shared/footprint.js';
// Secure deployment (DESIGN.md §5, §8; docs/deploy.md): server keys, signed packages with HPKE-encrypted
// protected layers, device provisioning, install, use and export.
export * from './deploy/index.js';
// The cost of protection (DESIGN.md §2, issue 7): statistics, the TEE memory and boundary models, the
// cost benchmark (Figure 4) and the exposure-aware partition planner.
export { oneWayAnova, blockedAnova, pairedRatio, summarize, diffCi95, fCdf, fSurvival, tCdf, tQuantile, betaInc, lnGamma, type Anova, type BlockedAnova, type Summary } from './bench/stats.js';
export { teeMemoryModel, reeBuffersModel, layerMemory, layerLabel, lastK, type TeeMemory, type LayerMemory, type ReeBuffers, type MemoryOptions } from './bench/memory.js';
export { trainingTraffic, type StepTraffic } from './bench/boundary.js';
export { predictOverhead, fitCostParams, DEFAULT_COST, type CostParams, type CostPrediction } from './bench/cost-model.js';
export { planPartitions, loadExposure, formatPlan, type Plan, type RangePlan, type PlanOptions, type ExposureInput } from './bench/plan.js';
export { runTeeBench, formatBench, runOrder, type TeeBenchOptions, type BenchDocument, type ConfigStats } from './bench/tee-bench.js';
// Layer-wise exposure (DESIGN.md §3): the protocol end to end, its formula and the Figure 2 plot.
export { runExposure, plotFolders, generalizationError, exposureOf, type ExposureRequest, type ExposureOutcome, type ExposureDocument, type LayerEntry, type Metric } from './exposure/index.js';
// Bring your own model (issue 16; docs/onnx.md): ONNX import into a config + weights, export back.
export { importOnnx, OnnxImportError, SUPPORTED_OPS, MIN_OPSET, MAX_OPSET, type ImportedModel, type ImportOptions } from './onnx/import.js';
export { exportOnnx, OnnxExportError, EXPORT_OPSET, type ExportedModel, type ExportOptions } from './onnx/export.js';
export { loadOnnxFile, importedNetwork, importedFiles, writeImportedFiles } from './onnx/model.js';
export { formatCfg } from './nn/cfg-write.js';
export { runIdentity, identityMismatch, sameIdentity, identityKey, engineIdentity, engineFingerprint, type RunIdentity, type IdentityMismatch } from './exposure/index.js';
// Membership inference and model stealing against a partition (DESIGN.md §9, issue 11): the attacker's
// view (Oracle) through the TEE client, the attacks, their metrics, resumable sweeps.
export { attack, writeAttack, partitionTitle, type AttackRunOptions, type AttackDocument, type AttackRecord } from './attack/run.js';
export {
  attackSweep, attackPartition, partitionSettings, writeSweepOutputs, partitionName, partitionLabel, partitionRange,
  type SweepOptions, type SweepDocument, type SweepRecord, type PartitionChoice, type PartitionSettings, type PartitionInputs,
} from './attack/sweep.js';
export { openVictim, type VictimSpec, type Victim } from './attack/victim.js';
export { WholeModelOracle, TeeOracle, topLabels, type Oracle, type OracleAnswer, type Visible } from './attack/oracle.js';
export { selectPools, subsample, type Pool, type AttackPools, type AttackData } from './attack/pools.js';
export { ATTACK_NAMES, ATTACK_NEEDS, missingNeed, AttackRefused, type AttackName, type AttackScores, type Seen } from './attack/types.js';
export { attackMetrics, auc, rocCurve, tprAtFpr, advantage, calibrateThreshold, applyThreshold, percentileCi, type AttackMetrics, type RocPoint, type MetricOptions } from './attack/metrics.js';
export { stealModel, type StealOptions, type StealResult } from './attack/steal.js';
export { rebuildProtected, attackerNetwork } from './attack/substitute.js';
export { fitLogistic, logisticScore, type LogisticModel } from './attack/logreg.js';
export { loadAttackSweep, type AttackInput, type MeasuredAttack } from './bench/plan.js';
// The shared rules, said once (issue 14): data selection, the batch override, the partition options,
// and opening a whole or partitioned model.
export { selectData, loadSets, setOf, type DataSelection, type SelectedData, type SetName, type InputShape } from './data/select.js';
export { withBatch } from './nn/model.js';
export { parseByteSize, secureMemory, lastLayers, parseLayerRange, teeRange, parseTeeOutput, taKernelChoice, kernelThreads } from './tee/options.js';
export { openModel, type OpenModelOptions, type OpenedModel } from './tee/open.js';
export { partitionReport, type PartitionReport } from './tee/report.js';
export { benchStatistics, benchPoints, type BenchFiles } from './bench/tee-bench.js';
export { planDocument, type PlanDocument, type RangeDocument } from './bench/plan.js';
// The main job in one command and its report (issue 14).
export { runPipeline, EMBEDDED_DEFAULTS, type PipelineOptions, type PipelineEvent, type PipelineResult, type StageName, type StageInfo } from './pipeline/index.js';
export { writeReport, renderReport, loadInputs, type ReportResult, type ReportInputs } from './report/index.js';
