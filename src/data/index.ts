// Public surface of the data layer.
export { DataError, type DataFormat, type DataSource, type Dataset, type ImageShape, type LoadOptions } from './types.js';
export { loadData, EMBEDDED } from './load.js';
export { loadIdx, readIdxImages, readIdxLabels, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC } from './idx.js';
export { loadCifar10, CIFAR10_CLASS_NAMES } from './cifar10.js';
export { loadFolder } from './folder.js';
export { loadEmbedded, embeddedDir } from './embedded.js';
export { splitST } from './split.js';
export { BatchLoader, oneHot } from './batches.js';
export { resizeDataset, checkShape } from './resize.js';
export { readImageFile, decodeImage, type DecodedImage } from './image.js';
