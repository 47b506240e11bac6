DROP TABLE asset_blobs;
DROP TABLE assets;
