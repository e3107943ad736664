/**
 * Metrics of the runbook's custom monitors, computed locally: DeepLIIF segmentation metrics
 * (`segmentation_metrics`) and image counts (`generic_metrics`). See docs/metrics.md.
 */
export { DEFAULT_IMAGE_EXTENSIONS, FileEntrySchema, isImageFile, isRecent, listFolder, normalizeEntries, recentSince } from './files';
export type { FileEntry, FileEntryInput } from './files';
export { GenericOptionsSchema, genericMetrics, genericMetricsForFolders } from './generic';
export type { GenericMetrics, GenericOptions, GenericResult } from './generic';
export { MASK_SIZE, classMaskFromPng, countMasks, countPngPair } from './masks';
export type { ConfusionCounts, PairCounts } from './masks';
export { DEFAULT_PREDICTION_SUFFIX, PairingOptionsSchema, RAW_PREDICTION_SUFFIX, groundTruthNameFor, pairByName } from './pairing';
export type { ImagePair, Pairing, PairingOptions } from './pairing';
export { decodePngRgb, readPngHeader, DEFAULT_MAX_PIXELS } from './png';
export type { PngHeader, RgbImage } from './png';
export { countImagePairs, countPairsInOrder, findWorkerScript } from './pool';
export type { CountOptions, CountOutcome, CountSink, Execution, ImageSource, PairInput, PairList, PairSequence, Progress } from './pool';
export { resizeLinear8u } from './resize';
export {
  DEFAULT_MIN_PAIRS,
  SegmentationSelectionSchema,
  computeSegmentationMetrics,
  segmentationMetricsForFolders,
  selectSegmentationPairs,
} from './segmentation';
export type { ComputeOptions, FolderRunOptions, ImageResult, SegmentationComputation, SegmentationResult, SegmentationSelectionOptions, Selection } from './segmentation';
export {
  SEGMENTATION_BASE_METRICS,
  SEGMENTATION_METRIC_NAMES,
  SegmentationMetricsAccumulator,
  aggregateSegmentationMetrics,
  classMetrics,
  imageMetrics,
  segmentationMetricUnit,
  toMetricIds,
} from './segmentation-math';
export type { ClassMetrics, ImageMetrics, SegmentationMetricName, SegmentationMetrics } from './segmentation-math';
