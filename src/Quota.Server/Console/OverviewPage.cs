using Microsoft.AspNetCore.Http;
using Quota.Abstractions;
using Quota.Grains;
using Quota.Grains.Storage;
using Quota.Grains.Subjects;

namespace Quota.Server.OperatorConsole;

/// <summary>
/// <c>/console/</c>: this silo's decisions per second (allowed, denied), the subjects denied in the last five minutes by
/// kind and policy, callers waiting, active subjects against the ceiling, and whether durable writes get through.
/// </summary>
internal static class OverviewPage
{
    private static readonly TimeSpan DenialSpan = TimeSpan.FromMinutes(5);

    public static Task<IResult> RenderAsync(HttpContext context, DecisionRates rates, QuotaInstruments instruments, RecentDenials denials, ActiveSubjects active, StorageHealth storage, QuotaTime time)
    {
        var (allowed, denied, allowedPerSecond, deniedPerSecond, over) = rates.Read();
        var html = new Html();
        html.Add($"""
            <p class="muted">What this silo ({context.Request.Host.Value}) has seen since it started; each silo of a cluster shows its own.</p>
            <div class="cards">
            <div class="card"><div class="v ok" id="allowed-per-second">{Rate(allowedPerSecond)}</div><div class="l">allowed / s{Over(over)}</div></div>
            <div class="card"><div class="v bad" id="denied-per-second">{Rate(deniedPerSecond)}</div><div class="l">denied / s{Over(over)}</div></div>
            <div class="card"><div class="v" id="allowed-total">{allowed}</div><div class="l">allowed since start</div></div>
            <div class="card"><div class="v" id="denied-total">{denied}</div><div class="l">denied since start</div></div>
            <div class="card"><div class="v" id="waiting">{instruments.WaitingNow}</div><div class="l">callers waiting</div></div>
            <div class="card"><div class="v" id="active-subjects">{active.Count}</div><div class="l">active users, keys, resources (ceiling {active.Ceiling})</div></div>
            </div>
            """);

        html.Add($"<h2>Storage</h2>");
        html.Add(storage.Problem is { } problem
            ? new Html().Add($"""<p class="bad" id="storage">Durable writes failing since {problem.Since} ({problem.ErrorType}): {problem.CheckpointsWaiting} checkpoints and {problem.HistoryRowsWaiting} usage-history rows wait. Decisions continue from memory.</p>""").ToMarkup()
            : new Markup("<p class=\"ok\" id=\"storage\">Durable writes get through.</p>"));

        var recent = denials.Since(time.Provider.GetUtcNow() - DenialSpan);
        html.Add($"<h2>Denied in the last {DenialSpan.TotalMinutes} minutes</h2>");
        if (recent.Count == 0)
        {
            html.Add($"""<p class="muted" id="no-denials">No policy denied a request here in the last {DenialSpan.TotalMinutes} minutes.</p>""");
        }
        else
        {
            html.Add($"""<table id="denials"><tr><th>kind</th><th>policy</th><th>denials</th><th>last</th><th>subjects (most recent first)</th></tr>""");
            foreach (var group in recent.GroupBy(d => (d.Kind, d.Policy)).OrderByDescending(g => g.Count()).ThenByDescending(g => g.First().At))
            {
                var subjects = new Html();
                foreach (var id in group.Select(d => d.Id).Distinct(StringComparer.Ordinal).Take(5))
                {
                    subjects.Add($"""<a href="{ConsoleEndpoints.Root}/subjects?kind={SubjectNames.Prefix(group.Key.Kind)}&amp;id={Uri.EscapeDataString(id)}">{SubjectNames.Label(group.Key.Kind, id)}</a> """);
                }

                html.Add($"""<tr><td>{SubjectNames.Prefix(group.Key.Kind)}</td><td>{group.Key.Policy}</td><td class="n">{group.Count()}</td><td>{group.First().At}</td><td>{subjects.ToMarkup()}</td></tr>""");
            }

            html.Add(new Markup("</table>"));
            html.Add($"""<p class="muted">The last {RecentDenials.Capacity} denials on this silo are kept.</p>""");
        }

        return Task.FromResult(ConsoleEndpoints.Page(context, "Overview", "Overview", html.ToMarkup(), refreshMs: 2000));
    }

    private static string Rate(double? perSecond) => perSecond is { } r ? r.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture) : "–";

    private static string Over(TimeSpan over) => over >= TimeSpan.FromSeconds(1) ? $" (last {Math.Round(over.TotalSeconds)} s)" : " (needs a second look)";
}
