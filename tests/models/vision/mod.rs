//! ViT and DETR (with its mask head): image decoding and processors, models, and the image
//! classification, object detection and segmentation pipelines.

mod segmentation;
mod vit_detr;
