//! Entry points for fuzz targets (filled below).
