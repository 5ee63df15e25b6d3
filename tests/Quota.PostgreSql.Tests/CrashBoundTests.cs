using System.Collections.Concurrent;
using Quota.PostgreSql.Tests.Infrastructure;
using Quota.Testing;

namespace Quota.PostgreSql.Tests;

/// <summary>
/// The over-admission bound after a crash, measured: three silo processes on loopback, calendar quotas under load
/// from concurrent HTTP callers, one silo killed with SIGKILL midway; the load goes on through the other two until
/// every quota is spent. Two shapes: many subjects with a few callers each, and three hot subjects (about five
/// callers each).
/// </summary>
public sealed class CrashBoundTests(PostgresFixture postgres)
{
    private const int Workers = 16;

    [Theory]
    [InlineData(20, 300)]
    [InlineData(3, 1000)]
    public async Task Killing_a_silo_under_load_admits_nothing_beyond_any_calendar_quota(int users, int limit)
    {
        await using var cluster = new DurableCluster(await postgres.Server.CreateDatabaseAsync());
        var silos = new[] { await cluster.StartSiloAsync(), await cluster.StartSiloAsync(), await cluster.StartSiloAsync() };
        for (var u = 0; u < users; u++)
        {
            // Through each silo in turn: a grain is activated where it is first called, so each silo hosts a third.
            await DurableCluster.SetUserPoliciesAsync(silos[u % 3].Http, $"crash-{u}", new { name = "daily", algorithm = "calendar", limit, period = "day", timeZone = "UTC" });
        }

        var admitted = new int[users];
        var ambiguous = new int[users];
        var deniedInARow = new int[users];
        var failures = 0;
        var total = 0;
        var killed = 0;
        var victim = silos[1];
        var errors = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(5));

        async Task WorkerAsync(int worker)
        {
            var random = new Random(worker);
            while (!stop.IsCancellationRequested && Enumerable.Range(0, users).Any(u => Volatile.Read(ref deniedInARow[u]) < 20))
            {
                var user = random.Next(users);
                var alive = silos.Where(s => !(Volatile.Read(ref killed) == 1 && ReferenceEquals(s, victim))).ToArray();
                var silo = alive[random.Next(alive.Length)];
                try
                {
                    if (await DurableCluster.AcquireAsync(silo.Http, new { user = $"crash-{user}" }))
                    {
                        Interlocked.Increment(ref admitted[user]);
                        Interlocked.Exchange(ref deniedInARow[user], 0);
                    }
                    else
                    {
                        Interlocked.Increment(ref deniedInARow[user]);
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or InvalidOperationException)
                {
                    // Calls in flight to the killed silo, or to grains it hosted until it is declared dead.
                    Interlocked.Increment(ref failures);
                    Interlocked.Increment(ref ambiguous[user]);
                    errors.Enqueue(e.Message);
                }

                if (Interlocked.Increment(ref total) == users * limit / 3)
                {
                    Volatile.Write(ref killed, 1);
                    await victim.KillAsync();
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Workers).Select(w => Task.Run(() => WorkerAsync(w))));

        var sum = admitted.Sum();
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"crash bound: {users} users x {limit}/day, {Workers} callers, 3 silos, one SIGKILLed after {users * limit / 3} requests; "
            + $"admitted {sum} of {users * limit} = {(double)sum / (users * limit):F4}; per user max {admitted.Max()} min {admitted.Min()}; "
            + $"{failures} calls failed during failover; {total} requests");
        Assert.False(stop.IsCancellationRequested, "the load did not finish within 5 minutes");
        Assert.Equal(1, Volatile.Read(ref killed));

        // The bound: no quota admits more than its limit. Below it: the unused claims of the killed silo's counters
        // (1% of the limit, more for a subject busy while its write was in flight), and calls whose answers were lost
        // with the silo (the permit may have been taken, the caller never learned).
        Assert.All(admitted, a => Assert.True(a <= limit, $"a quota admitted {a} of {limit}"));
        for (var u = 0; u < users; u++)
        {
            Assert.InRange(admitted[u], limit - (limit / 10) - ambiguous[u], limit);
        }
    }
}
