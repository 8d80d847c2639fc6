DROP TABLE pbx_fence;
