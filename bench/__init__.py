"""Herald's benchmarks: ``python bench/run.py [--quick]`` (see BENCHMARKS.md). Not collected by pytest."""
