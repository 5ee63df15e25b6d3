using System.Net;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests;

/// <summary>
/// Tenants borrow the moment their allowance runs out (issue 21), on the real silo over HTTP: the issue's burst, three
/// tokens of 100 a minute (a pool of 285 with the 5% buffer) and four idle tenants with reserves of 20.
/// </summary>
[Collection(AdminHostCollection.Name)]
public sealed class BorrowingTests(AdminSilo host, ITestOutputHelper output) : HostTest(host)
{
    [Fact]
    public async Task A_burst_of_800_over_four_idle_tenants_uses_the_whole_pool_at_once_and_fairly()
    {
        var upstream = Ids.New("up-");
        (await Api.PutUpstream(upstream, new { bufferPercent = 5, window = "00:01:00" })).Expect(HttpStatusCode.OK);
        for (var i = 1; i <= 3; i++)
        {
            var policy = new { name = "per-minute", algorithm = "sliding-log", limit = 100, window = "00:01:00" };
            (await Api.PutToken(upstream, $"t{i}", new { secret = TenancyApi.SecretOf(upstream, $"t{i}"), policies = new[] { policy } })).Expect(HttpStatusCode.OK);
        }

        var tenants = new string[4];
        for (var i = 0; i < tenants.Length; i++)
        {
            tenants[i] = await Api.NewTenant(upstream, 20);
        }

        var before = (await Api.Allocation(upstream)).Expect(HttpStatusCode.OK).Json;
        Assert.Equal(285, before["capacity"]!.GetValue<long>());
        Assert.Equal(205, before["lendable"]!.GetValue<long>());
        Assert.Equal(0, before["leased"]!.GetValue<long>());

        // Idle tenants, activated: each reads its usage (which takes nothing) and so reports its demand, 0, to the pool.
        foreach (var tenant in tenants)
        {
            (await Api.Get($"/v1/usage/tenant/{tenant}")).Expect(HttpStatusCode.OK);
        }

        // The client opens its 800 connections first, so the burst arrives as one rather than spread over the seconds
        // that opening them takes on this machine.
        await Task.WhenAll(Enumerable.Range(0, 800).Select(_ => Api.Get("/healthz")));

        // 800 at once, interleaved over the tenants; high priority so the silo's in-flight ceiling (750 of 1000 at
        // normal priority) does not shed part of the burst.
        var started = DateTimeOffset.UtcNow;
        var replies = await Task.WhenAll(Enumerable.Range(0, 800).Select(i => Api.Acquire(new { tenant = tenants[i % 4], priority = "high" })));
        var took = DateTimeOffset.UtcNow - started;
        var admitted = new long[4];
        var tokens = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < replies.Length; i++)
        {
            if (replies[i].Status == HttpStatusCode.OK)
            {
                admitted[i % 4]++;
                var token = TenancyApi.ChosenToken(replies[i]);
                tokens[token] = tokens.GetValueOrDefault(token) + 1;
            }
            else
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, replies[i].Status);
            }
        }

        double sum = admitted.Sum();
        var jain = sum * sum / (4 * admitted.Sum(a => (double)a * a));
        output.WriteLine($"800 over HTTP in {took.TotalMilliseconds:F0} ms: admitted {string.Join(", ", admitted)} = {sum} of 285; Jain {jain:F4}; per token {string.Join(", ", tokens.OrderBy(t => t.Key).Select(t => $"{t.Key} {t.Value}"))}");

        // The whole pool: every reserve and the 205 lent 52/51/51/51, the extra unit to whichever tenant id sorts first.
        Assert.Equal(285, admitted.Sum());
        Assert.Equal([71L, 71L, 71L, 72L], admitted.Order());
        Assert.Equal(72, admitted[Array.IndexOf(tenants, tenants.Min(StringComparer.Ordinal))]);
        Assert.All(tokens.Values, n => Assert.Equal(95, n));

        var after = (await Api.Allocation(upstream)).Expect(HttpStatusCode.OK).Json;
        Assert.Equal(205, after["leased"]!.GetValue<long>());
    }
}
