using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Quota.Abstractions;
using Quota.Grains;
using Quota.Grains.Storage;
using Quota.Grains.Subjects;

namespace Quota.Server.Http;

/// <summary>
/// <c>GET /v1/usage/{kind}/{id}?from=&amp;to=</c>: a subject's decisions per minute from the usage history,
/// stored rows plus what this silo has counted and not yet written. Other silos' last few seconds arrive with their
/// next batch (<c>Quota:Storage:UsageFlushInterval</c>).
/// </summary>
internal static class UsageHistory
{
    /// <summary>The longest span one read may cover.</summary>
    public static readonly TimeSpan MaxSpan = TimeSpan.FromDays(31);

    public static async Task<IResult> ReadAsync(string kind, string id, HttpContext context)
    {
        id = HttpJson.RouteName(id);
        var problems = new List<FieldProblem>();
        if (!SubjectNames.TryParsePrefix(kind, out var subjectKind))
        {
            problems.Add(new("kind", $"'{kind}' is not a kind of subject; use user, key, tenant, token or resource."));
        }

        RequestRules.CheckName(problems, "id", id);
        if (problems.Count == 0 && subjectKind == SubjectKind.ApiKey && !ApiKeyHasher.IsKeyId(id))
        {
            problems.Add(new("id", "use the key id (64 hex digits) returned when the key was registered, never the raw key."));
        }

        var now = context.RequestServices.GetRequiredService<QuotaTime>().Provider.GetUtcNow();
        var from = Instant(context, "from", problems);
        var to = context.Request.Query.ContainsKey("to") ? Instant(context, "to", problems) : now;
        if (!context.Request.Query.ContainsKey("from"))
        {
            problems.Add(new("from", "is required with to: an ISO 8601 instant with its offset, e.g. 2026-11-23T00:00:00Z."));
        }

        if (from is { } f && to is { } t && problems.Count == 0)
        {
            if (f >= t)
            {
                problems.Add(new("to", "must be later than from."));
            }
            else if (t > DateTimeOffset.MaxValue.AddMinutes(-1))
            {
                problems.Add(new("to", "is too far in the future; give an instant before 9999-12-31T23:59:00Z."));
            }
            else if (t - f > MaxSpan)
            {
                problems.Add(new("to", $"spans more than {MaxSpan.TotalDays} days from from; read longer spans in several requests."));
            }
        }

        if (problems.Count > 0)
        {
            return HttpJson.Problem(StatusCodes.Status400BadRequest, problems);
        }

        // Whole minutes: a minute is in the answer when it starts in [from, to).
        var start = Floor(from!.Value);
        var end = Floor(to!.Value) == to.Value ? to.Value : Floor(to.Value).AddMinutes(1);
        var subject = $"{SubjectNames.Prefix(subjectKind)}:{id}";
        ICollection<UsageRow> rows;
        try
        {
            rows = await MinutesAsync(context.RequestServices, subject, start, end, context.RequestAborted);
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException)
        {
            return Results.Problem(
                statusCode: StatusCodes.Status503ServiceUnavailable,
                title: "Usage history is unavailable",
                detail: $"The database did not answer ({e.GetType().Name}); decisions are unaffected. Try again later.");
        }

        return Results.Json(new
        {
            subject = SubjectNames.Label(subjectKind, id),
            from = start,
            to = end,
            allowed = rows.Sum(r => r.Allowed),
            denied = rows.Sum(r => r.Denied),
            permits = rows.Sum(r => r.Permits),
            minutes = rows.Select(r => new { minute = r.Minute, allowed = r.Allowed, denied = r.Denied, permits = r.Permits }),
        }, HttpJson.ResponseOptions);
    }

    /// <summary>
    /// The minutes of <paramref name="subject"/> (<c>{kind}:{id}</c>) in [<paramref name="start"/>, <paramref name="end"/>),
    /// oldest first: the stored rows plus what this silo has not written yet. Throws what the store throws.
    /// </summary>
    internal static async Task<ICollection<UsageRow>> MinutesAsync(IServiceProvider services, string subject, DateTimeOffset start, DateTimeOffset end, CancellationToken cancellationToken)
    {
        var stored = await services.GetRequiredService<IUsageHistoryStore>().ReadAsync(subject, start, end, cancellationToken);
        var recorder = services.GetRequiredService<UsageRecorder>();
        var minutes = new SortedDictionary<DateTimeOffset, UsageRow>();
        foreach (var row in stored.Concat(recorder.Unwritten(subject, start, end)))
        {
            minutes[row.Minute] = minutes.TryGetValue(row.Minute, out var earlier) ? UsageRecorder.Add(earlier, row) : row;
        }

        return minutes.Values;
    }

    /// <summary>The start of <paramref name="t"/>'s minute, in UTC.</summary>
    internal static DateTimeOffset Floor(DateTimeOffset t) => new(t.UtcTicks - (t.UtcTicks % TimeSpan.TicksPerMinute), TimeSpan.Zero);

    private static DateTimeOffset? Instant(HttpContext context, string name, List<FieldProblem> problems)
    {
        var text = context.Request.Query[name].ToString();
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value)
            && (text.EndsWith('Z') || text.EndsWith('z') || text.Contains('+', StringComparison.Ordinal) || text.LastIndexOf('-') > 9))
        {
            return value;
        }

        if (context.Request.Query.ContainsKey(name))
        {
            problems.Add(new(name, $"'{text}' is not an ISO 8601 instant with its offset; write e.g. 2026-11-23T00:00:00Z (in a URL a '+' offset is written %2B)."));
        }

        return null;
    }
}
