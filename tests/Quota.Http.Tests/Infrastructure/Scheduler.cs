using System.Net;
using System.Text.Json.Nodes;

namespace Quota.Http.Tests.Infrastructure;

/// <summary>The scheduler's admin API (<c>/v1/admin/scheduler</c>).</summary>
/// <remarks>
/// The host's scheduler also runs by itself, once a minute after its last run. A run asked for here moves that next
/// run a whole interval on, so a test that asks for a run first has a minute in which only its own runs happen.
/// </remarks>
public static class SchedulerApi
{
    /// <summary>GET /v1/admin/scheduler.</summary>
    public static async Task<JsonObject> SchedulerStatus(this QuotaApi api) =>
        (await api.Get("/v1/admin/scheduler")).Expect(HttpStatusCode.OK).Json;

    /// <summary>POST /v1/admin/scheduler/run: what the run did.</summary>
    public static async Task<JsonObject> RunScheduler(this QuotaApi api) =>
        (await api.Post("/v1/admin/scheduler/run", string.Empty)).Expect(HttpStatusCode.OK).Json;

    /// <summary>GET /v1/admin/scheduler/history, newest first.</summary>
    public static async Task<JsonArray> SchedulerHistory(this QuotaApi api, string? subject = null, int? limit = null)
    {
        var query = new List<string>();
        if (subject is not null)
        {
            query.Add($"subject={Uri.EscapeDataString(subject)}");
        }

        if (limit is not null)
        {
            query.Add($"limit={limit}");
        }

        var path = query.Count == 0 ? "/v1/admin/scheduler/history" : $"/v1/admin/scheduler/history?{string.Join('&', query)}";
        return (await api.Get(path)).Expect(HttpStatusCode.OK).Json["changes"]!.AsArray();
    }

    /// <summary>The changes of a run (or a history) about <paramref name="subject"/>.</summary>
    public static List<JsonObject> About(JsonNode? changes, string subject) =>
        [.. changes!.AsArray().OfType<JsonObject>().Where(c => c["subject"]!.GetValue<string>() == subject)];

    /// <summary>A run's <c>held</c> entries, as text.</summary>
    public static string[] Held(JsonObject run) => [.. run["held"]!.AsArray().Select(h => h!.GetValue<string>())];
}
