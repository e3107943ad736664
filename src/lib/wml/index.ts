/** Watson Machine Learning: deployment spaces and CAMS data assets (upload, list, latest, download, delete). */
export { WmlClient, createWmlClient, spaceInfo, SpaceFailedError, type SpaceInfo, type EnsureSpaceOptions, type EnsureSpaceResult } from './client';
export {
  DataAssets,
  assetInfo,
  AssetExistsError,
  AssetNotFoundError,
  RUNBOOK_TAG,
  type AssetInfo,
  type AssetRef,
  type OverwriteMode,
  type UploadOptions,
  type UploadResult,
  type DownloadOptions,
  type DownloadResult,
} from './assets';
export { type WmlOptions } from './context';
export { mimeTypeFor } from './mime';
export { ServerClock } from './server-clock';
export { pathSource, bytesSource, type UploadSource, type FolderSourceOptions } from './source';
export { TransferIntegrityError, type TransferProgress } from './transfer';
