"""HTTP service and command line: parses input, calls features/recsys/imagegen, maps errors."""
