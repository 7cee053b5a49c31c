// Secure deployment (DESIGN.md §5, §8): server keys, packages, device provisioning, install, use,
// export and import. See docs/deploy.md.
export { generateServerKeys, loadServerKey, loadServerPublic, loadDeviceCert, KeyFileError, type ServerKeys, type ServerPublic, type VerifiedDeviceCert } from './keys.js';
export { createPackage, verifyPackage, type PackageOptions, type PackageSummary, type VerifiedPackage } from './package.js';
export {
  initDevice, trustServer, deviceStatus, exportDeviceCert, installPackage, openInstalled, exportModel, readPointer, paths as devicePaths,
  DeployError, SimulatedCrash, type DeviceOptions, type FaultPoint, type Pointer, type InstallResult, type InstalledModel,
  type OpenInstalledOptions, type ExportResult, type DeviceInitResult,
} from './device.js';
export { importExport, type ImportOptions, type ImportResult } from './import.js';
export { DeviceBusyError } from '../util/fsutil.js';
export { ContainerError, type Manifest, type DeviceCert, type DeviceCertBody } from '../tee/shared/container.js';
export type { DeviceStatus, ModelInfo } from '../tee/shared/deploy-protocol.js';
