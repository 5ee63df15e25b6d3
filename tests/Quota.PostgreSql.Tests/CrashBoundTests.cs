using System.Collections.Concurrent;
using System.Net.Http.Json;
using Quota.PostgreSql.Tests.Infrastructure;
using Quota.Testing;

namespace Quota.PostgreSql.Tests;

/// <summary>
/// The over-admission bound after a crash, measured: three silo processes on loopback, calendar quotas under load
/// from concurrent HTTP callers, one silo killed with SIGKILL midway; the load goes on through the other two until
/// every quota is spent. Two shapes: many subjects with a few callers each, and three hot subjects (about five
/// callers each). The silo killed is the one hosting the most subjects under test; only calls to it whose answer
/// was lost are ambiguous, and any other failure fails the test.
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
            // Through each silo in turn; where the subjects live is read from the silos' metrics before the kill.
            await DurableCluster.SetUserPoliciesAsync(silos[u % 3].Http, $"crash-{u}", new { name = "daily", algorithm = "calendar", limit, period = "day", timeZone = "UTC" });
        }

        var admitted = new int[users];
        var ambiguous = new int[users];
        var deniedInARow = new int[users];
        var total = 0;
        var killed = 0;
        SiloProcess? victim = null;
        var victimSubjects = 0L;
        var liveErrors = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(5));

        async Task WorkerAsync(int worker)
        {
            var random = new Random(worker);
            while (!stop.IsCancellationRequested && Enumerable.Range(0, users).Any(u => Volatile.Read(ref deniedInARow[u]) < 20))
            {
                var user = random.Next(users);
                var dead = Volatile.Read(ref killed) == 1 ? victim : null;
                var alive = silos.Where(s => !ReferenceEquals(s, dead)).ToArray();
                var silo = alive[random.Next(alive.Length)];
                try
                {
                    if (await AcquireAsync(silo.Http, $"crash-{user}"))
                    {
                        Interlocked.Increment(ref admitted[user]);
                        Interlocked.Exchange(ref deniedInARow[user], 0);
                    }
                    else
                    {
                        Interlocked.Increment(ref deniedInARow[user]);
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException && ReferenceEquals(silo, Volatile.Read(ref victim)))
                {
                    // A call in flight to the killed silo: the permit may have been taken, the caller never heard.
                    Interlocked.Increment(ref ambiguous[user]);
                }
                catch (FailoverException) when (Volatile.Read(ref killed) == 1)
                {
                    // A live silo's call to a grain the killed silo hosted: that grain may have taken the permit.
                    Interlocked.Increment(ref ambiguous[user]);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or InvalidOperationException or FailoverException)
                {
                    // A live silo failed to answer, or answered neither 200 nor 429: a failure, not an ambiguity.
                    liveErrors.Enqueue($"{silo.BaseAddress}: {e.GetType().Name}: {e.Message}");
                }

                if (Interlocked.Increment(ref total) == users * limit / 3)
                {
                    // The victim is the silo hosting the most of the subjects under test, so the kill loses claims.
                    var hosted = await Task.WhenAll(silos.Select(s => ActiveUsersAsync(s.Http)));
                    var most = Array.IndexOf(hosted, hosted.Max());
                    victimSubjects = hosted[most];
                    Volatile.Write(ref victim, silos[most]);
                    Volatile.Write(ref killed, 1);
                    await silos[most].KillAsync();
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Workers).Select(w => Task.Run(() => WorkerAsync(w))));

        var sum = admitted.Sum();
        var claim = Math.Max(1, limit / 100);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"crash bound: {users} users x {limit}/day, {Workers} callers, 3 silos, the one hosting {victimSubjects} of them SIGKILLed after {users * limit / 3} requests; "
            + $"admitted {sum} of {users * limit} = {(double)sum / (users * limit):F4}; per user max {admitted.Max()} min {admitted.Min()}; "
            + $"{ambiguous.Sum()} answers lost with the killed silo (its own or a live silo's failover 503); {total} requests");
        Assert.False(stop.IsCancellationRequested, "the load did not finish within 5 minutes");
        Assert.Equal(1, Volatile.Read(ref killed));
        Assert.True(victimSubjects > 0, "the killed silo hosted none of the subjects under test: the run measured nothing");
        Assert.True(liveErrors.IsEmpty, $"{liveErrors.Count} calls to live silos failed:\n{string.Join('\n', liveErrors.Distinct().Take(10))}");

        // The documented bound: no quota admits more than its limit, and a crash under-admits at most one claim per
        // counter (1% of the limit, at least 1), plus the calls whose answers were lost with the silo.
        for (var u = 0; u < users; u++)
        {
            Assert.InRange(admitted[u], limit - claim - ambiguous[u], limit);
        }
    }

    /// <summary>One acquire: true on 200, false on 429; a 503 with the failover problem throws <see cref="FailoverException"/>.</summary>
    private static async Task<bool> AcquireAsync(HttpClient http, string user)
    {
        using var response = await http.PostAsJsonAsync(new Uri("/v1/acquire", UriKind.Relative), new { user });
        var body = await response.Content.ReadAsStringAsync();
        return (int)response.StatusCode switch
        {
            200 => true,
            429 => false,
            503 when body.Contains("\"tag:quota,2026:problem:subject-moving\"", StringComparison.Ordinal) => throw new FailoverException(body),
            _ => throw new InvalidOperationException($"acquire answered {(int)response.StatusCode}: {body}"),
        };
    }

    /// <summary>A live silo's answer that a grain's silo failed over (503, problem type subject-moving).</summary>
    private sealed class FailoverException(string message) : Exception(message);

    /// <summary>User subjects active on the silo, from its <c>quota_subjects_active{kind="user"}</c> series.</summary>
    private static async Task<long> ActiveUsersAsync(HttpClient http)
    {
        var text = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        // A silo that never hosted a user subject has no such series.
        var line = text.Split('\n').SingleOrDefault(l => l.StartsWith("quota_subjects_active{", StringComparison.Ordinal) && l.Contains("kind=\"user\"", StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line[(line.IndexOf('}', StringComparison.Ordinal) + 1)..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
    }
}
