using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Orleans.Dashboard;
using Quota.Abstractions;
using Quota.Grains.Storage;
using Quota.Server.Admin;
using Quota.Server.Http;
using Quota.Server.OperatorConsole;
using Quota.Server.Rls;

namespace Quota.Server.Hosting;

/// <summary>The silo's HTTP surface: decisions, admin, dashboard, metrics, health and the front page.</summary>
public static class QuotaApplicationExtensions
{
    /// <summary>Answers <c>200 ok</c> while the process lives: a liveness (and startup) probe's path.</summary>
    public const string LivenessPath = "/healthz";

    /// <summary>Answers <c>200</c> when the silo can decide, <c>503</c> from the first moment of a stop: a readiness probe's path.</summary>
    public const string ReadinessPath = "/readyz";

    /// <summary>
    /// Adds the cross-site guard (<see cref="CrossSiteGuard"/>) and the admin gate, and maps everything: <c>/v1/…</c> decisions, <c>/v1/admin/…</c>, <c>/dashboard</c>, <c>/console</c>,
    /// <c>/metrics</c>, <c>/healthz</c>, <c>/readyz</c> and <c>/</c>. <c>/v1/upstreams/…</c> (an upstream's allocation)
    /// is behind the gate too: it names every tenant of the upstream with its usage.
    /// </summary>
    public static WebApplication UseQuota(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseQuotaRls();
        app.UseQuotaFailures();
        app.UseRequestGate();
        app.UseMiddleware<CrossSiteGuard>();
        app.UseWhen(
            context => context.Request.Path.StartsWithSegments("/v1/admin")
                || context.Request.Path.StartsWithSegments("/v1/upstreams")
                || context.Request.Path.StartsWithSegments("/dashboard")
                || context.Request.Path.StartsWithSegments("/console"),
            branch => branch.UseMiddleware<AdminGate>());
        app.MapQuotaApi();
        app.MapQuotaAdmin();
        app.MapQuotaQueues();
        app.MapOrleansDashboard(routePrefix: "/dashboard");
        app.MapQuotaConsole();
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapGet(ReadinessPath, ReadyAsync).Produces<string>(contentType: "text/plain").ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        app.MapQuotaOpenApi();
        return app;
    }

    /// <summary>
    /// Not ready while the silo stops (<see cref="GracefulStop"/>). Ready when this silo can activate a grain and get an answer within two seconds. While durable writes fail
    /// (the database is down) it is still ready, since decisions continue from memory, and says it is degraded.
    /// </summary>
    private static async Task<IResult> ReadyAsync(IGrainFactory grains, StorageHealth storage, RequestGate gate, HttpContext context)
    {
        if (gate.IsStopping)
        {
            return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Not ready", detail: "The silo is stopping: it answers what it has in flight and takes nothing new.");
        }

        try
        {
            var probe = Random.Shared.NextInt64();
            var answer = await grains.GetGrain<IPingGrain>("readiness").PingAsync(probe).WaitAsync(TimeSpan.FromSeconds(2), context.RequestAborted);
            if (answer == probe && storage.Problem is { } problem)
            {
                return Results.Text(
                    $"degraded: durable writes have failed since {problem.Since:O} ({problem.ErrorType}; the silo's log has the details); decisions continue from memory; "
                    + $"{problem.CheckpointsWaiting} subjects' checkpoints and {problem.HistoryRowsWaiting} usage-history rows wait to be written\n");
            }

            return answer == probe
                ? Results.Text("ready\n")
                : Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Not ready", detail: "The silo answered a probe wrongly.");
        }
        catch (Exception e) when (e is TimeoutException or OrleansException or InvalidOperationException)
        {
            return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Not ready", detail: $"The silo cannot decide yet: {e.GetType().Name}.");
        }
    }
}
