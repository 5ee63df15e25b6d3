using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Quota.Abstractions;
using Quota.Samples.Worker;
using Quota.Testing;

namespace Quota.Outbound.Tests;

/// <summary>
/// The handler against a real silo (child process) and a real fake upstream over HTTP: which credential is attached,
/// what reaches Quota's feedback, what a denial gives the caller, cancellation.
/// </summary>
public sealed class QuotaUpstreamHandlerTests(OutboundFixture fixture) : IClassFixture<OutboundFixture>
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    [Theory]
    [InlineData(CredentialPlacement.Header, "Authorization", "Bearer {secret}")]
    [InlineData(CredentialPlacement.Header, "X-Token", "{secret}")]
    [InlineData(CredentialPlacement.Query, "Authorization", "Bearer {secret}")]
    public async Task TheCredentialAttachedIsTheChosenTokens(CredentialPlacement placement, string header, string format)
    {
        var (upstream, secrets, fake) = await SetUpAsync("cred", ["t1", "t2", "t3"], limit: 100, Minute);
        await using var _ = fake;
        using var client = fixture.Client(fake.BaseAddress, new QuotaUpstreamOptions
        {
            Upstream = upstream,
            Placement = placement,
            HeaderName = header,
            HeaderFormat = format,
        });

        var answeredBy = new List<string>();
        for (var i = 0; i < 12; i++)
        {
            using var response = await client.GetAsync(new Uri("orders?page=2", UriKind.Relative), TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            answeredBy.Add((await response.Content.ReadFromJsonAsync<Answer>(TestContext.Current.CancellationToken))!.Token);
        }

        // The fake accepts a token's own secret only (else 401), and Quota counted each request on the token it chose.
        Assert.Equal(0, fake.Unauthorized);
        var counts = fake.Counts();
        foreach (var token in secrets.Keys)
        {
            var used = (await fixture.TokenAsync(upstream, token)).Used;
            Assert.True(counts[token].Admitted == used, $"token {token}: the upstream admitted {counts[token].Admitted} with its secret, Quota chose it {used} times");
            Assert.Equal(answeredBy.Count(t => t == token), counts[token].Admitted);

            // The least utilised token is chosen: equal tokens share evenly.
            Assert.Equal(4, used);
        }

        Assert.Empty(fixture.Logs.Containing(secrets["t1"]));
    }

    [Fact]
    public async Task ACredentialCallbackPlacesTheSecretOnEveryAttempt()
    {
        var (upstream, secrets, fake) = await SetUpAsync("callback", ["t1", "t2"], limit: 100, Minute);
        await using var _ = fake;
        var seen = new List<string>();
        using var client = fixture.Client(fake.BaseAddress, new QuotaUpstreamOptions
        {
            Upstream = upstream,
            Credential = (request, secret) =>
            {
                seen.Add(secret);
                request.Headers.Remove("X-Token");
                request.Headers.Add("X-Token", secret);
            },
        });

        for (var i = 0; i < 4; i++)
        {
            using var response = await client.GetAsync(new Uri("orders", UriKind.Relative), TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // Each token's own secret, as Quota chose them in turn (least utilised first).
        Assert.Equal(0, fake.Unauthorized);
        Assert.Equal((2, 2), (seen.Count(s => s == secrets["t1"]), seen.Count(s => s == secrets["t2"])));
        Assert.Equal((2L, 2L), (fake.Counts()["t1"].Admitted, fake.Counts()["t2"].Admitted));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A429sRetryAfterReachesQuotaAndPausesTheToken(bool asHttpDate)
    {
        var (upstream, _, fake) = await SetUpAsync("pause", ["t1"], limit: 100, Minute);
        await using var __ = fake;
        fake.Inject("t1", 429, asHttpDate ? DateTimeOffset.UtcNow.AddSeconds(10).ToString("r", CultureInfo.InvariantCulture) : "10");
        using var client = fixture.Client(fake.BaseAddress, new QuotaUpstreamOptions { Upstream = upstream });

        using var limited = await client.GetAsync(new Uri("orders", UriKind.Relative), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);

        // Reported before the response was returned: the token is paused and its limit halved already.
        var health = (await fixture.TokenAsync(upstream, "t1")).Health;
        Assert.True(health.PausedForMs is > 5_000 and <= 10_000, $"expected a pause of about 10 s, got {OutboundFixture.Show(health)}");
        Assert.Equal(0.5, health.LimitFactor);
        Assert.Equal("closed", health.Circuit);

        var denied = await Assert.ThrowsAsync<QuotaUpstreamRejectedException>(() => client.GetAsync(new Uri("orders", UriKind.Relative), TestContext.Current.CancellationToken));
        Assert.Equal(DenialCause.Paused, denied.Cause);
        Assert.Equal($"token:{upstream}/t1/paused", denied.LimitedBy);
        Assert.True(denied.RetryAfter > TimeSpan.FromSeconds(5) && denied.RetryAfter <= TimeSpan.FromSeconds(10), $"retry after {denied.RetryAfter}");
        Assert.Equal(0, fake.Counts()["t1"].Admitted);
    }

    [Fact]
    public async Task FiveServerErrorsInARowOpenTheTokensCircuit()
    {
        var (upstream, _, fake) = await SetUpAsync("circuit", ["t1"], limit: 100, Minute);
        await using var __ = fake;
        using var client = fixture.Client(fake.BaseAddress, new QuotaUpstreamOptions { Upstream = upstream });
        for (var i = 0; i < 5; i++)
        {
            fake.Inject("t1", 500);
        }

        for (var i = 1; i <= 5; i++)
        {
            using var failed = await client.GetAsync(new Uri("orders", UriKind.Relative), TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
            var health = (await fixture.TokenAsync(upstream, "t1")).Health;
            Assert.True(i < 5 ? health is { Circuit: "closed" } && health.ConsecutiveFailures == i : health is { Circuit: "open", TimesOpened: 1 }, $"after {i} failures: {OutboundFixture.Show(health)}");
        }

        var denied = await Assert.ThrowsAsync<QuotaUpstreamRejectedException>(() => client.GetAsync(new Uri("orders", UriKind.Relative), TestContext.Current.CancellationToken));
        Assert.Equal(DenialCause.Circuit, denied.Cause);
        Assert.Equal($"token:{upstream}/t1/circuit", denied.LimitedBy);
        Assert.Equal(0, fake.Counts()["t1"].Admitted);
    }

    [Fact]
    public async Task ARequestThatGetsNoAnswerIsReportedAsAFailure()
    {
        var (upstream, _, fake) = await SetUpAsync("noanswer", ["t1"], limit: 100, Minute);
        await fake.DisposeAsync();
        var nobody = new Uri($"http://127.0.0.1:{SiloProcess.FreePorts(1)[0]}/");
        using var client = fixture.Client(nobody, new QuotaUpstreamOptions { Upstream = upstream });

        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(new Uri("orders", UriKind.Relative), TestContext.Current.CancellationToken));

        var token = await fixture.TokenAsync(upstream, "t1");
        Assert.Equal(1, token.Health.ConsecutiveFailures);
        Assert.Equal(1, token.Used);
    }

    [Fact]
    public async Task AnAttemptPastItsTimeoutIsReportedAsUnansweredAndThrownAsATimeout()
    {
        var (upstream, _, fake) = await SetUpAsync("silent", ["t1"], limit: 100, Minute);
        await fake.DisposeAsync();
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var accepted = silent.AcceptTcpClientAsync(TestContext.Current.CancellationToken);
        using var client = fixture.Client(
            new Uri($"http://127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}/"),
            new QuotaUpstreamOptions { Upstream = upstream, AttemptTimeout = TimeSpan.FromMilliseconds(300) });

        var error = await Assert.ThrowsAsync<TaskCanceledException>(() => client.GetAsync(new Uri("orders", UriKind.Relative), TestContext.Current.CancellationToken));

        Assert.IsType<TimeoutException>(error.InnerException);
        Assert.Contains("AttemptTimeout", error.Message, StringComparison.Ordinal);
        var token = await fixture.TokenAsync(upstream, "t1");
        Assert.Equal(1, token.Health.ConsecutiveFailures);
        Assert.Equal(1, token.Used);
        using var connection = await accepted;
    }

    [Fact]
    public async Task ACallerGivingUpWhileTheUpstreamIsSilentIsNotReported()
    {
        var (upstream, _, fake) = await SetUpAsync("giveup", ["t1"], limit: 100, Minute);
        await fake.DisposeAsync();
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        using var client = fixture.Client(
            new Uri($"http://127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}/"),
            new QuotaUpstreamOptions { Upstream = upstream, AttemptTimeout = TimeSpan.FromMinutes(10) });
        using var giveUp = new CancellationTokenSource();

        var sending = client.GetAsync(new Uri("orders", UriKind.Relative), giveUp.Token);
        using var connection = await silent.AcceptTcpClientAsync(TestContext.Current.CancellationToken);
        await giveUp.CancelAsync();

        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sending);
        Assert.IsNotType<TimeoutException>(error.InnerException);
        var token = await fixture.TokenAsync(upstream, "t1");
        Assert.Equal(0, token.Health.ConsecutiveFailures);
        Assert.Equal(1, token.Used);
    }

    [Fact]
    public async Task ADeniedRequestIsNotSentAndThrowsWithTheExactWait()
    {
        var (upstream, secrets, fake) = await SetUpAsync("throw", ["t1"], limit: 2, Minute);
        await using var _ = fake;
        using var client = fixture.Client(fake.BaseAddress, new QuotaUpstreamOptions { Upstream = upstream });
        for (var i = 0; i < 2; i++)
        {
            using var ok = await client.GetAsync(new Uri("orders", UriKind.Relative), TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        var denied = await Assert.ThrowsAsync<QuotaUpstreamRejectedException>(() => client.GetAsync(new Uri("orders", UriKind.Relative), TestContext.Current.CancellationToken));
        Assert.Equal(DecisionOutcome.Denied, denied.Outcome);
        Assert.Equal(DenialCause.Policy, denied.Cause);
        Assert.Equal($"token:{upstream}/t1/limit", denied.LimitedBy);
        Assert.True(denied.RetryAfter > TimeSpan.FromSeconds(50) && denied.RetryAfter <= Minute, $"retry after {denied.RetryAfter}");
        Assert.Equal(upstream, denied.Upstream);
        Assert.DoesNotContain(secrets["t1"], denied.ToString(), StringComparison.Ordinal);
        Assert.Equal(2, fake.Counts()["t1"].Admitted);
    }

    [Fact]
    public async Task WithTooManyRequestsADenialIsASynthetic429WithRetryAfter()
    {
        var (upstream, _, fake) = await SetUpAsync("synth", ["t1"], limit: 1, Minute);
        await using var __ = fake;
        using var client = fixture.Client(fake.BaseAddress, new QuotaUpstreamOptions { Upstream = upstream, OnDenied = QuotaDenialBehavior.TooManyRequests });
        using (var ok = await client.GetAsync(new Uri("orders", UriKind.Relative), TestContext.Current.CancellationToken))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using var denied = await client.GetAsync(new Uri("orders", UriKind.Relative), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.TooManyRequests, denied.StatusCode);
        Assert.Equal("Denied by Quota", denied.ReasonPhrase);
        Assert.Equal($"token:{upstream}/t1/limit", Assert.Single(denied.Headers.GetValues(QuotaUpstreamHandler.LimitedByHeader)));
        var wait = denied.Headers.RetryAfter?.Delta;
        Assert.True(wait > TimeSpan.FromSeconds(50) && wait <= Minute, $"Retry-After {denied.Headers.RetryAfter}");
        Assert.Equal("application/problem+json", denied.Content.Headers.ContentType?.MediaType);
        var problem = await denied.Content.ReadFromJsonAsync<Problem>(TestContext.Current.CancellationToken);
        Assert.Equal(429, problem!.Status);
        Assert.Equal($"token:{upstream}/t1/limit", problem.LimitedBy);
        Assert.Equal(1, fake.Counts()["t1"].Admitted);
    }

    [Fact]
    public async Task AnUnknownUpstreamIsThrownEvenWithTooManyRequests()
    {
        await using var fake = await FakeUpstream.StartAsync(new Dictionary<string, string>(), 1, Minute);
        var upstream = OutboundFixture.NewUpstream("nowhere");
        using var client = fixture.Client(fake.BaseAddress, new QuotaUpstreamOptions { Upstream = upstream, OnDenied = QuotaDenialBehavior.TooManyRequests });

        var refused = await Assert.ThrowsAsync<QuotaUpstreamRejectedException>(() => client.GetAsync(new Uri("orders", UriKind.Relative), TestContext.Current.CancellationToken));
        Assert.Equal(DecisionOutcome.UnknownSubject, refused.Outcome);
        Assert.Equal("upstream", refused.Problem?.Field);
        Assert.Equal(0, fake.Unauthorized);
    }

    [Fact]
    public async Task CancellingAWaitingRequestGivesUpItsPlaceAndSendsNothing()
    {
        // A wait longer than the token's retry-after, so the request queues instead of being denied at once.
        var (upstream, _, fake) = await SetUpAsync("cancel", ["t1"], limit: 1, TimeSpan.FromSeconds(15));
        await using var __ = fake;
        using var client = fixture.Client(fake.BaseAddress, new QuotaUpstreamOptions { Upstream = upstream, MaxWait = TimeSpan.FromSeconds(20) });
        using (var ok = await client.GetAsync(new Uri("orders", UriKind.Relative), TestContext.Current.CancellationToken))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using var giveUp = new CancellationTokenSource();
        var waiting = client.GetAsync(new Uri("orders", UriKind.Relative), giveUp.Token);
        await WaitForAsync(async () => (await fixture.Quota.GetUsageAsync(SubjectKind.Token, $"{upstream}/t1")).Waiting == 1, "the request to wait at the token");

        await giveUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        await WaitForAsync(async () => (await fixture.Quota.GetUsageAsync(SubjectKind.Token, $"{upstream}/t1")).Waiting == 0, "the waiter to leave the queue");
        Assert.Equal(1, fake.Counts()["t1"].Admitted);
        Assert.Equal(1, (await fixture.TokenAsync(upstream, "t1")).Used);
    }

    private async Task<(string Upstream, Dictionary<string, string> Secrets, FakeUpstream Fake)> SetUpAsync(string prefix, string[] tokens, int limit, TimeSpan window)
    {
        var upstream = OutboundFixture.NewUpstream(prefix);
        var secrets = tokens.ToDictionary(t => t, OutboundFixture.NewSecret);
        await fixture.ConfigureAsync(upstream, secrets, limit, window);
        return (upstream, secrets, await FakeUpstream.StartAsync(secrets, limit, window));
    }

    /// <summary>Polls <paramref name="condition"/> (a real signal from the silo) until it holds, for at most 15 s.</summary>
    internal static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (!await condition())
        {
            Assert.False(deadline.IsCancellationRequested, $"timed out waiting for {what}");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    private sealed record Answer(string Token);

    private sealed record Problem(int Status, string? LimitedBy, long RetryAfterMs);
}
