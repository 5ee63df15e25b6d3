using Quota.Cli;

// quota: the command-line tool for a Quota service. It speaks only the HTTP API (decisions and /v1/admin).
return await QuotaCommandLine.RunAsync(args);
