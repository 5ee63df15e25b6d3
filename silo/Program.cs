using Quota.Server.Hosting;

// The Quota silo. With no configuration: the embedded default (localhost clustering, in-memory storage and
// reminders, HTTP on http://127.0.0.1:8080). Everything else is configuration; see docs/operations.md.
var builder = WebApplication.CreateBuilder(args);
builder.AddQuotaSilo();

var app = builder.Build();
app.UseQuota();
app.Run();
