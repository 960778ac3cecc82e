package main

// commands lists every subcommand. Each lives in the file of its name.
func commands() map[string]command {
	return map[string]command{
		"package":     {short: "assemble deployable app folders and zips from built handlers", run: cmdPackage},
		"gen":         {short: "write the TPC-H customer table, byte-identical to dbgen", run: cmdGen},
		"bench":       {short: "benchmark the transports on a local stack and write a report (--model: the scale model)", run: cmdBench},
		"bench-model": {short: "same as bench --model: time and cost at 10-1000 instances and 1-100 GB", run: cmdBenchModel},
		"up":          {short: "run the local stack (Azurite and the three apps) in the foreground", run: cmdUp},
		"down":        {short: "stop the stack a `funnel up` in this directory runs", run: cmdDown},
		"upload":      {short: "upload files to a blob container, in parallel", run: cmdUpload},
		"submit":      {short: "submit a job to the job API (--wait: follow it and print the result)", run: cmdSubmit},
		"status":      {short: "print where a job stands", run: cmdStatus},
		"retry":       {short: "retry a failed job: send again the units that never landed (--wait: follow it)", run: cmdRetry},
		"run":         {short: "the main job in one command: generate, split, upload, run over each transport, check", run: cmdRun},
		"result":      {short: "print a finished job's result as a table, CSV or JSON", run: cmdResult},
		"split":       {short: "cut a table file into line-aligned chunk files", run: cmdSplit},
		"ref":         {short: "compute the exact reference answer locally with the pipeline's kernel", run: cmdRef},
		"triggers":    {short: "list each app's triggers as the host resolves them from function.json and the settings", run: cmdTriggers},
		"host":        {short: "run one function app under the local Functions host in the foreground", run: cmdHost},
	}
}
