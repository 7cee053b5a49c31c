// The TA's command table: every command id the layerlock TA answers and its handler, in one
// explicit list (as an OP-TEE TA's TA_InvokeCommandEntryPoint switch). The host passes it to
// TrustedApp; an id not listed answers TEE_ERROR_NOT_SUPPORTED.
import {
  CMD_BACKWARD, CMD_CONFIGURE, CMD_DEVICE_INIT, CMD_DEVICE_TRUST, CMD_DIAG_PANIC, CMD_DIAG_PROBE, CMD_EXPORT_ENCRYPTED, CMD_EXPORT_PARAMS_PLAINTEXT,
  CMD_FORWARD, CMD_GET_STATS, CMD_INSTALL_ENCRYPTED, CMD_LOAD_PARAMS, CMD_SEAL_PROTECTED, CMD_TAKE_LOSS, CMD_TRAIN_STEP, CMD_UNSEAL_PROTECTED,
  CMD_UPDATE,
} from '../shared/protocol.js';
import {
  deviceInitCommand, deviceTrustCommand, exportEncryptedCommand, installEncryptedCommand, refusedWhenDeployed, sealProtectedCommand,
  unsealProtectedCommand,
} from './deploy.js';
import {
  backwardCommand, configureCommand, diagPanicCommand, diagProbeCommand, exportPlaintextCommand, forwardCommand, getStatsCommand,
  loadParamsCommand, takeLossCommand, trainStepCommand, updateCommand, type CommandHandler, type CommandTable,
} from './ta.js';

export const COMMANDS: CommandTable = new Map<number, CommandHandler>([
  // The protected partition (ta.ts)
  [CMD_CONFIGURE, configureCommand],
  [CMD_LOAD_PARAMS, refusedWhenDeployed(CMD_LOAD_PARAMS, loadParamsCommand)],
  [CMD_FORWARD, forwardCommand],
  [CMD_BACKWARD, backwardCommand],
  [CMD_TRAIN_STEP, trainStepCommand],
  [CMD_UPDATE, updateCommand],
  [CMD_TAKE_LOSS, takeLossCommand],
  [CMD_GET_STATS, getStatsCommand],
  [CMD_EXPORT_PARAMS_PLAINTEXT, refusedWhenDeployed(CMD_EXPORT_PARAMS_PLAINTEXT, exportPlaintextCommand)],
  // Deployment: device keys, trust anchor, sealed storage, encrypted install/export (deploy.ts)
  [CMD_DEVICE_INIT, deviceInitCommand],
  [CMD_DEVICE_TRUST, deviceTrustCommand],
  [CMD_INSTALL_ENCRYPTED, installEncryptedCommand],
  [CMD_SEAL_PROTECTED, sealProtectedCommand],
  [CMD_UNSEAL_PROTECTED, unsealProtectedCommand],
  [CMD_EXPORT_ENCRYPTED, exportEncryptedCommand],
  // Diagnostics (answer NOT_SUPPORTED unless the TA was started with them on)
  [CMD_DIAG_PROBE, diagProbeCommand],
  [CMD_DIAG_PANIC, diagPanicCommand],
]);
