package main

// freeGiB: on Windows the engine's data lives in its Linux VM, out of
// reach of a local path.
func freeGiB(string) (float64, bool) { return 0, false }
