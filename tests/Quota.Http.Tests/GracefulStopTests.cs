using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Quota.Http.Tests.Infrastructure;
using Quota.Testing;

namespace Quota.Http.Tests;

/// <summary>
/// SIGTERM under load: the silo drains first (waits in flight are answered 503, new requests are answered 503 with
/// <c>Connection: close</c>, the rest finish), then stops and exits 0. Every request sent gets a complete answer.
/// </summary>
public sealed class GracefulStopTests
{
    private const int Waiters = 5;
    private const int Loops = 8;

    [Fact]
    public async Task Every_request_in_flight_through_a_sigterm_gets_a_complete_answer_and_the_silo_exits_0()
    {
        await using var host = await SiloProcess.StartAsync(
        [
            "--Quota:Decisions:MaxWait=00:01:00",
            "--Quota:Policies:Resources:0:Name=slots:*",
            "--Quota:Policies:Resources:0:Policies:0:Name=in-flight",
            "--Quota:Policies:Resources:0:Policies:0:Algorithm=concurrency",
            "--Quota:Policies:Resources:0:Policies:0:Limit=1",
            "--Quota:Policies:Resources:0:Policies:0:LeaseTtl=01:00:00",
        ]);
        try
        {
            await RunAsync(host);
        }
        catch
        {
            TestContext.Current.TestOutputHelper?.WriteLine(host.LogTail(200));
            throw;
        }
    }

    private static async Task RunAsync(SiloProcess host)
    {
        var api = new QuotaApi(host.Http);
        var slots = Ids.New("slots:");
        (await api.Acquire(new { resources = new[] { slots } })).Expect(HttpStatusCode.OK);
        var waiting = Enumerable.Range(0, Waiters).Select(_ => api.Acquire(new { resources = new[] { slots }, maxWaitMs = 60_000 })).ToArray();
        await api.UntilWaiting("resource", slots, Waiters);

        // Loops of decisions on their own connections, each until the silo says it is stopping or no longer listens.
        var answers = new ConcurrentBag<HttpStatusCode>();
        var failures = new ConcurrentBag<string>();
        var refused = 0;
        var warm = new CountdownEvent(Loops);
        async Task LoopAsync()
        {
            using var http = new HttpClient { BaseAddress = host.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
            var loopApi = new QuotaApi(http);
            var sent = 0;
            while (true)
            {
                try
                {
                    var reply = await loopApi.Acquire(new { user = Ids.User() });
                    answers.Add(reply.Status);
                    if (++sent == 3)
                    {
                        warm.Signal();
                    }

                    if (reply.Status == HttpStatusCode.ServiceUnavailable)
                    {
                        Assert.Equal("close", reply.Header("Connection"));
                        return;
                    }
                }
                catch (HttpRequestException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
                {
                    // Never sent: nobody listens any more.
                    Interlocked.Increment(ref refused);
                    if (sent < 3)
                    {
                        warm.Signal();
                    }

                    return;
                }
                catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
                {
                    failures.Add($"{e.GetType().Name}: {e.Message} {e.InnerException?.Message}");
                    return;
                }
            }
        }

        var loops = Enumerable.Range(0, Loops).Select(_ => Task.Run(LoopAsync)).ToArray();
        Assert.True(warm.Wait(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken), "The load loops did not get going.");

        await host.StopGracefullyAsync(TimeSpan.FromSeconds(60));
        await Task.WhenAll(loops);

        Assert.Empty(failures);
        Assert.Equal(0, host.ExitCode);
        Assert.All(answers, status => Assert.Contains(status, (HttpStatusCode[])[HttpStatusCode.OK, HttpStatusCode.ServiceUnavailable]));
        foreach (var wait in waiting)
        {
            var reply = await wait;
            var problem = reply.Expect(HttpStatusCode.ServiceUnavailable).Json;
            Assert.Equal("https://iana.org/assignments/http-problem-types#temporary-reduced-capacity", problem["type"]!.GetValue<string>());
            Assert.Contains("stopping", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.Equal("1", reply.Header("Retry-After"));
            Assert.Equal("close", reply.Header("Connection"));
        }

        Assert.Contains(host.Output, line => line.Contains("Drained in", StringComparison.Ordinal));
    }
}
