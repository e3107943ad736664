export { safeRelativePath, isSafeRelativePath } from './safe-path';
export { extractTarSafely, createTarGz, writeTarGz, type ExtractOptions, type ExtractResult, type CreateTarOptions } from './tarball';
export { zipFolder, type ZipFolderOptions } from './zip';
