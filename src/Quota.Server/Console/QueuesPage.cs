using Microsoft.AspNetCore.Http;
using Quota.Abstractions;
using Quota.Server.Admin;
using Quota.Server.Http;

namespace Quota.Server.OperatorConsole;

/// <summary>
/// <c>/console/queues</c>: the defined queues (the first 100 by name, from the registry; any other by <c>?name=</c>): depth by
/// priority, in flight, retrying, admitted and allowed rate, the plan (drain time, workers wanted, deadlines), and
/// its newest dead letters (id, attempts, error; never the payload).
/// </summary>
internal static class QueuesPage
{
    private const int DeadShown = 10;

    public static async Task<IResult> RenderAsync(HttpContext context, AdminService admin, IGrainFactory grains)
    {
        var asked = context.Request.Query["name"].ToString();
        var html = new Html();
        html.Add($"""<form class="lookup" method="get" action="{ConsoleEndpoints.Root}/queues"><label>queue <input name="name" size="30" value="{asked}"></label> <button type="submit">Show</button></form>""");

        // The registry lists every defined queue; a page shows the first of them, and any other by ?name=.
        var listed = await admin.QueuesAsync(null, QueueEndpoints.MaxListed + 1);
        var names = new SortedSet<string>(listed.Take(QueueEndpoints.MaxListed), StringComparer.Ordinal);
        var more = listed.Length > QueueEndpoints.MaxListed;

        if (asked.Length > 0)
        {
            var problems = new List<FieldProblem>();
            RequestRules.CheckName(problems, "name", asked);
            if (problems.Count > 0)
            {
                html.Add(ConsoleEndpoints.Problem(string.Join(" ", problems.Select(p => $"{p.Field}: {p.Detail}"))));
                return ConsoleEndpoints.Page(context, "Queues", "Queues", html.ToMarkup());
            }

            names = new SortedSet<string>([asked], StringComparer.Ordinal);
        }

        if (more && asked.Length == 0)
        {
            html.Add($"""<p class="muted" id="more-queues">The first {QueueEndpoints.MaxListed} queues by name are shown; ask for another by name, or page through GET /v1/queues.</p>""");
        }

        if (names.Count == 0)
        {
            html.Add($"""<p class="muted" id="no-queues">No queue is defined. Define one with PUT /v1/admin/queues/{"{name}"} or the queues section of apply.</p>""");
        }

        foreach (var name in names)
        {
            var queue = grains.GetGrain<IQueueGrain>(name);
            var stats = await queue.GetStatsAsync();
            html.Add($"""<section class="queue" data-queue="{name}"><h2>{name}</h2>""");
            if (stats is null)
            {
                html.Add($"""<p class="muted">No queue '{name}' is defined.</p></section>""");
                continue;
            }

            html.Add($"""<table class="depth"><tr><th>priority</th><th>ready</th></tr>""");
            foreach (var priority in (string[])["critical", "high", "normal", "low"])
            {
                html.Add($"""<tr data-priority="{priority}"><td>{priority}</td><td class="n">{(stats.Depth.TryGetValue(priority, out var depth) ? depth : 0)}</td></tr>""");
            }

            html.Add(new Markup("</table>"));
            html.Add($"""
                <p>In flight <b class="in-flight">{stats.InFlight}</b> · retrying <b>{stats.Retrying}</b> · dead <b class="dead">{stats.Dead}</b> · oldest {ConsoleEndpoints.Duration(stats.OldestAgeMs)} ·
                acked {stats.Acked} · expired {stats.Expired}</p>
                <p>Rate: admitted <b class="admitted">{stats.AdmittedPerMinute}</b>/min · allowed {(stats.AllowedPerMinute is { } allowed ? allowed : (object)"unbounded")}/min</p>
                <p class="plan">Plan: drain in {(stats.DrainTimeMs is { } drain ? ConsoleEndpoints.Duration(drain) : "–")} · workers wanted <b class="desired-workers">{stats.DesiredWorkers}</b> (processing {stats.ProcessingTime}) ·
                deadlines met {stats.DeadlinesMet}, missed {stats.DeadlinesMissed}</p>
                """);
            var dead = await queue.ListDeadAsync(DeadShown) ?? [];
            if (dead.Length > 0)
            {
                html.Add($"""<table class="dead-letters"><tr><th>dead letter</th><th>priority</th><th>attempts</th><th>error</th><th>upstream status</th><th>died at</th></tr>""");
                foreach (var d in dead)
                {
                    html.Add($"""<tr><td>{d.Id}</td><td>{d.Priority.ToString().ToLowerInvariant()}</td><td class="n">{d.Attempts}</td><td>{d.Error ?? "–"}</td><td class="n">{(d.UpstreamStatus is { } status ? status : (object)"–")}</td><td>{d.DiedAt}</td></tr>""");
                }

                html.Add(new Markup("</table>"));
            }

            html.Add(new Markup("</section>"));
        }

        return ConsoleEndpoints.Page(context, "Queues", "Queues", html.ToMarkup(), refreshMs: 3000);
    }
}
