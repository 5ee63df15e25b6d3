using Microsoft.AspNetCore.Http;
using Quota.Abstractions;
using Quota.Server.Admin;

namespace Quota.Server.OperatorConsole;

/// <summary>
/// <c>/console/scheduler</c>: whether and how often the scheduler runs, its runs, the steps it took (old → new and
/// why, newest first) and what its latest run held back.
/// </summary>
internal static class SchedulerPage
{
    private const int Shown = 100;

    public static async Task<IResult> RenderAsync(HttpContext context, AdminService admin)
    {
        var status = await admin.SchedulerStatusAsync();
        var history = await admin.SchedulerHistoryAsync(Shown, null);
        var html = new Html();
        html.Add($"""
            <div class="cards">
            <div class="card"><div class="v" id="scheduler-runs">{status.Runs}</div><div class="l">runs</div></div>
            <div class="card"><div class="v {(status.Enabled ? "ok" : "warn")}">{(status.Enabled ? "on" : "off")}</div><div class="l">{(status.Enabled ? $"every {status.IntervalSeconds} s" : "runs only when asked (POST /v1/admin/scheduler/run)")}</div></div>
            <div class="card"><div class="v">{(status.LastRunAt is { } last ? last : (object)"never")}</div><div class="l">last run</div></div>
            <div class="card"><div class="v">{(status.NextRunAt is { } next ? next : (object)"–")}</div><div class="l">next run</div></div>
            </div>
            """);
        if (status.LastError is { } error)
        {
            html.Add(ConsoleEndpoints.Problem($"The last run failed: {error}"));
        }

        html.Add($"<h2>Held by the latest run</h2>");
        if (status.LastHeld.Length == 0)
        {
            html.Add($"""<p class="muted" id="no-held">Nothing held back (or no run since the scheduler was activated).</p>""");
        }
        else
        {
            html.Add(new Markup("<ul id=\"held\">"));
            foreach (var held in status.LastHeld)
            {
                html.Add($"<li>{held}</li>");
            }

            html.Add(new Markup("</ul>"));
        }

        html.Add($"<h2>Steps, newest first (up to {Shown})</h2>");
        if (history.Length == 0)
        {
            html.Add($"""<p class="muted" id="no-steps">The scheduler has changed nothing yet.</p>""");
        }
        else
        {
            html.Add($"""<table id="steps"><tr><th>run</th><th>at</th><th>step</th><th>subject</th><th>old → new</th><th>why</th></tr>""");
            foreach (var step in history)
            {
                html.Add($"""<tr><td class="n">{step.Run}</td><td>{step.At}</td><td>{step.Kind}</td><td>{step.Subject}</td><td><code>{step.Old ?? "–"}</code> → <code>{step.New ?? "–"}</code></td><td>{step.Reason}</td></tr>""");
            }

            html.Add(new Markup("</table>"));
        }

        return ConsoleEndpoints.Page(context, "Scheduler", "Scheduler", html.ToMarkup(), refreshMs: 5000);
    }
}

/// <summary><c>/console/changes</c>: the change log, newest first, old → new, with where each change came from.</summary>
internal static class ChangesPage
{
    private const int Shown = 200;

    public static async Task<IResult> RenderAsync(HttpContext context, AdminService admin)
    {
        var subject = context.Request.Query["subject"].ToString();
        var changes = await admin.ChangesAsync(Shown, subject.Length == 0 ? null : subject);
        var html = new Html();
        html.Add($"""<form class="lookup" method="get" action="{ConsoleEndpoints.Root}/changes"><label>subject <input name="subject" size="40" value="{subject}" placeholder="user:alice, tenant:acme, queue:mail"></label> <button type="submit">Filter</button></form>""");
        if (changes.Length == 0)
        {
            html.Add($"""<p class="muted" id="no-changes">No change recorded{(subject.Length > 0 ? $" for {subject}" : string.Empty)}.</p>""");
        }
        else
        {
            html.Add($"""<table id="changes"><tr><th>#</th><th>at</th><th>subject</th><th>action</th><th>old</th><th>new</th><th>source</th></tr>""");
            foreach (var c in changes)
            {
                html.Add($"""<tr><td class="n">{c.Sequence}</td><td>{c.At}</td><td>{c.Subject}</td><td>{c.Action}</td><td><code>{c.Old ?? "–"}</code></td><td><code>{c.New ?? "–"}</code></td><td>{c.Source}</td></tr>""");
            }

            html.Add(new Markup("</table>"));
            html.Add($"""<p class="muted">Newest {Shown} shown; the log keeps the newest 10,000 (GET /v1/admin/changes?limit=).</p>""");
        }

        return ConsoleEndpoints.Page(context, "Changes", "Changes", html.ToMarkup());
    }
}
