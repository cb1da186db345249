"""The convolutions' layout (NCHW or NHWC), chosen by timing before the pass pipeline runs."""
