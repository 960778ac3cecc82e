package main

// commands lists every subcommand. Each lives in the file of its name.
func commands() map[string]command {
	return map[string]command{
		"package": {short: "assemble deployable app folders and zips from built handlers", run: cmdPackage},
		"gen": {short: "write the TPC-H customer table, byte-identical to dbgen", run: cmdGen},
	}
}
