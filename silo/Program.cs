using Quota.Server.Hosting;

// Socket completions run on the socket engine's own threads instead of being queued to the thread pool first: one
// thread hop fewer for every message in and out. Orleans' and Kestrel's transports only move bytes into their pipes
// there (what reads the pipes runs on the thread pool), so no request is processed on those threads; grain code
// continues on its activation's scheduler. What does continue there is code awaiting a socket outside a grain (the
// usage-history writer's PostgreSQL writes), which only prepares its next write. Measured on two
// cores (docs/benchmarks.md, one A/B run): a decision at 1 in flight about a third faster, a little more under load.
// Read once, when the first socket is used, so it must be set before anything starts; DOTNET_SYSTEM_NET_SOCKETS_
// INLINE_COMPLETIONS=0 in the environment keeps the runtime's default.
if (Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") is null)
{
    Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
}

// The Quota silo. With no configuration: the embedded default (localhost clustering, in-memory storage and
// reminders, HTTP on http://127.0.0.1:8080). Everything else is configuration; see docs/operations.md. QuotaSilo.RunAsync
// is WebApplication.CreateBuilder(args), AddQuotaSilo(), Build(), UseQuota(), Run(), with every setting checked before
// anything starts: a bad one exits with code 1, listing each problem once.
return await QuotaSilo.RunAsync(args);
