// A minimal API protected by Quota: GET /hello admits, for each user named in the X-User header, what the cluster's
// user policy admits (the default: 100 a minute), counted across every instance of this app.
//   dotnet run --project samples/Quota.Samples.WebApi -- --urls=http://127.0.0.1:5080 --Quota:Client:Gateways:0=127.0.0.1:30000
// Sample:Limiter=sliding-window or none swaps Quota for ASP.NET Core's in-process SlidingWindowRateLimiter (100 a
// minute per X-User, this instance only) or no limiter: the baselines of docs/benchmarks.md.
using System.Threading.RateLimiting;
using Quota.AspNetCore;
using Quota.Client;

var builder = WebApplication.CreateBuilder(args);
var limiter = builder.Configuration["Sample:Limiter"] ?? "quota";
if (limiter == "quota")
{
    builder.AddQuotaClient();
    builder.AddQuotaRateLimiting();
}

builder.Services.AddRateLimiter(options =>
{
    switch (limiter)
    {
        case "quota":
            options.AddQuotaPolicy("per-user", policy => policy.UserFromHeader("X-User"));
            break;
        case "sliding-window":
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.AddPolicy("per-user", context => RateLimitPartition.GetSlidingWindowLimiter(
                context.Request.Headers["X-User"].ToString(),
                _ => new SlidingWindowRateLimiterOptions { PermitLimit = 100, Window = TimeSpan.FromMinutes(1), SegmentsPerWindow = 6 }));
            break;
        case "none":
            options.AddPolicy("per-user", _ => RateLimitPartition.GetNoLimiter(""));
            break;
        default:
            throw new ArgumentException($"Sample:Limiter '{limiter}' is not quota, sliding-window or none.");
    }
});

var app = builder.Build();
app.UseRateLimiter();
app.MapGet("/hello", (HttpContext context) => $"Hello, {context.Request.Headers["X-User"]}!").RequireRateLimiting("per-user");
app.MapGet("/healthz", () => "ok\n");
app.Run();
