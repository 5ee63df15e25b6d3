using Quota.Server.Hosting;

// Socket completions run on the socket engine's own threads instead of being queued to the thread pool first: one
// thread hop fewer for every message in and out. Orleans' and Kestrel's transports only move bytes into their pipes
// there (what reads the pipes runs on the thread pool), so no request is processed on those threads. Measured on two
// cores (docs/benchmarks.md): a decision at 1 in flight about a fifth faster, more decisions a second under load.
// Read once, when the first socket is used, so it must be set before anything starts; DOTNET_SYSTEM_NET_SOCKETS_
// INLINE_COMPLETIONS=0 in the environment keeps the runtime's default.
if (Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") is null)
{
    Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
}

// The Quota silo. With no configuration: the embedded default (localhost clustering, in-memory storage and
// reminders, HTTP on http://127.0.0.1:8080). Everything else is configuration; see docs/operations.md.
var builder = WebApplication.CreateBuilder(args);
builder.AddQuotaSilo();

var app = builder.Build();
app.UseQuota();
app.Run();
