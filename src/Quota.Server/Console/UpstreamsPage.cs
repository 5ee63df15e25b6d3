using System.Globalization;
using Microsoft.AspNetCore.Http;
using Quota.Abstractions;
using Quota.Server.Admin;

namespace Quota.Server.OperatorConsole;

/// <summary>
/// <c>/console/upstreams</c>: for each upstream's pool, capacity against reserves, leases and use per tenant (a bar and
/// a table), each token's use against its ceiling with its circuit and pause, and whether the pool is learning.
/// Refreshed live. Secrets are never read: only the pool's allocation report.
/// </summary>
internal static class UpstreamsPage
{
    private const int BarWidth = 600;

    public static async Task<IResult> RenderAsync(HttpContext context, AdminService admin, IGrainFactory grains)
    {
        var upstreams = await admin.UpstreamsAsync();
        var html = new Html();
        if (upstreams.Length == 0)
        {
            html.Add($"""<p class="muted" id="no-upstreams">No upstream is configured. Add one with PUT /v1/admin/upstreams/{"{name}"} or the upstreams section of apply.</p>""");
        }

        var reports = await Task.WhenAll(upstreams.Select(u => grains.GetGrain<IPoolGrain>(u.Name).GetAllocationAsync()));
        for (var i = 0; i < upstreams.Length; i++)
        {
            html.Add(Pool(upstreams[i], reports[i]));
        }

        return ConsoleEndpoints.Page(context, "Upstreams", "Upstreams", html.ToMarkup(), refreshMs: 2000);
    }

    private static Markup Pool(UpstreamView upstream, AllocationReport? report)
    {
        var html = new Html();
        html.Add($"""<section class="pool" data-upstream="{upstream.Name}"><h2>{upstream.Name}</h2>""");
        if (report is null)
        {
            html.Add($"""<p class="muted">The pool has no report yet (no token or tenant).</p></section>""");
            return html.ToMarkup();
        }

        var used = report.Tenants.Sum(t => t.Used);
        html.Add($"""
            <p>Capacity <b class="capacity">{report.Capacity}</b> per {report.WindowSeconds} s (now {report.CapacityNow}, buffer {upstream.BufferPercent} %) ·
            reserved <b>{report.Reserved}</b> · lendable {report.Lendable} · leased <b class="leased">{report.Leased}</b> · used by tenants <b class="used">{used}</b> ·
            {(report.Learning ? new Html().Add($"""<span class="warn learning">learning mode: grants no more than tenants hold, for {ConsoleEndpoints.Duration(report.LearningEndsInMs)} more</span>""").ToMarkup() : new Markup("<span class=\"ok learning\">not learning</span>"))}</p>
            """);
        html.Add(Bar(report));

        html.Add($"""<table class="tenants"><tr><th>tenant</th><th>tier</th><th>weight</th><th>priority</th><th>reserved</th><th>burst</th><th>demand</th><th>fair share</th><th>lease</th><th>lease expires in</th><th>used</th></tr>""");
        foreach (var t in report.Tenants)
        {
            html.Add($"""<tr data-tenant="{t.Tenant}"><td><a href="{ConsoleEndpoints.Root}/subjects?kind=tenant&amp;id={Uri.EscapeDataString(t.Tenant)}">{t.Tenant}</a></td><td>{t.Tier}</td><td class="n">{t.Weight}</td><td class="n">{t.Priority}</td><td class="n">{t.Reserved}</td><td class="n">{(t.Burst is { } b ? b.ToString(CultureInfo.InvariantCulture) : "–")}</td><td class="n">{t.Demand}</td><td class="n">{t.FairShare}</td><td class="n">{t.Lease}</td><td class="n">{ConsoleEndpoints.Duration(t.LeaseTtlMs)}</td><td class="n used">{t.Used}</td></tr>""");
        }

        html.Add(new Markup("</table>"));
        html.Add($"""<table class="tokens"><tr><th>token</th><th>dedicated to</th><th>use</th><th>used / usable (limit)</th><th>in flight</th><th>circuit</th><th>paused for</th><th>limit factor</th></tr>""");
        foreach (var token in report.Tokens)
        {
            var circuit = token.Health.Circuit;
            html.Add($"""
                <tr data-token="{token.Id}"><td><a href="{ConsoleEndpoints.Root}/subjects?kind=token&amp;id={Uri.EscapeDataString(TokenKeys.Key(report.Upstream, token.Id))}">{token.Id}</a></td>
                <td>{token.DedicatedTo ?? "–"}</td><td>{Meter(token.Utilisation)}</td>
                <td class="n token-used">{token.Used} / {token.Usable} ({token.Limit})</td><td class="n">{token.InFlight}</td>
                <td class="{(circuit == "closed" ? "ok" : "bad")}">{circuit}{(token.Health.ConsecutiveFailures > 0 ? $" ({token.Health.ConsecutiveFailures} failures)" : string.Empty)}</td>
                <td class="n">{(token.Health.PausedForMs > 0 ? ConsoleEndpoints.Duration(token.Health.PausedForMs) : "–")}</td><td class="n">{token.Health.LimitFactor}</td></tr>
                """);
        }

        html.Add(new Markup("</table>"));
        if (report.Silo is { } silo)
        {
            html.Add($"""<p class="muted">Pool active on {silo}.</p>""");
        }

        html.Add(new Markup("</section>"));
        return html.ToMarkup();
    }

    /// <summary>Capacity as the whole bar; each tenant's reserve and lease side by side, its use as a dark inner bar.</summary>
    private static Markup Bar(AllocationReport report)
    {
        var total = Math.Max(1, Math.Max(report.Capacity, report.Tenants.Sum(t => t.Reserved + t.Lease)));
        var scale = BarWidth / (double)total;
        var html = new Html();
        html.Add($"""<svg class="pool-bar" width="{BarWidth + 2}" height="46" viewBox="0 0 {BarWidth + 2} 46" role="img" aria-label="capacity {report.Capacity}, reserved {report.Reserved}, leased {report.Leased}">""");
        html.Add($"""<rect x="1" y="1" width="{BarWidth}" height="28" fill="#e9edf4" stroke="#9aa3b2"/>""");
        var x = 1.0;
        string[] colours = ["#4f7cc4", "#46a384", "#c9853b", "#8b62b8", "#c45a6a", "#5aa0b8"];
        for (var i = 0; i < report.Tenants.Length; i++)
        {
            var t = report.Tenants[i];
            var colour = colours[i % colours.Length];
            var reserve = t.Reserved * scale;
            var lease = t.Lease * scale;
            var use = Math.Min(t.Used, t.Reserved + t.Lease) * scale;
            html.Add($"""<g><title>{t.Tenant}: reserved {t.Reserved}, lease {t.Lease}, used {t.Used}</title><rect x="{x:0.#}" y="1" width="{reserve:0.#}" height="28" fill="{colour}" fill-opacity="0.55"/><rect x="{x + reserve:0.#}" y="1" width="{lease:0.#}" height="28" fill="{colour}" fill-opacity="0.3"/><rect x="{x:0.#}" y="10" width="{use:0.#}" height="10" fill="{colour}"/></g>""");
            html.Add($"""<text x="{x + 2:0.#}" y="42" font-size="11" fill="#1d2330">{t.Tenant}</text>""");
            x += reserve + lease;
        }

        html.Add(new Markup("</svg>"));
        return html.ToMarkup();
    }

    private static Markup Meter(double utilisation)
    {
        var width = Math.Clamp(utilisation, 0, 1) * 100;
        var colour = utilisation >= 0.95 ? "#b3261e" : utilisation >= 0.85 ? "#c9853b" : "#13795b";
        return new Html().Add($"""<svg width="102" height="12" viewBox="0 0 102 12"><rect x="1" y="1" width="100" height="10" fill="#e9edf4"/><rect x="1" y="1" width="{width:0.#}" height="10" fill="{colour}"/></svg> <span class="utilisation">{utilisation * 100:0.#} %</span>""").ToMarkup();
    }
}
