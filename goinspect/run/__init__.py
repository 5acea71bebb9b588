"""Installing Go toolchains, building Go programs and running them as services (the test fleet, the demo)."""
