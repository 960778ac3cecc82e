package main

// commands lists every subcommand. Each lives in the file of its name.
func commands() map[string]command {
	return map[string]command{
		"package": {short: "assemble deployable app folders and zips from built handlers", run: cmdPackage},
		"gen": {short: "write the TPC-H customer table, byte-identical to dbgen", run: cmdGen},
		"bench-model": {short: "print the scale model: time and cost at 10-1000 instances and 1-100 GB", run: cmdBenchModel},
	}
}
