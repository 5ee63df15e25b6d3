using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Quota.Abstractions;
using Quota.Client;
using Quota.Testing;

namespace Quota.Integrations.Tests;

/// <summary>
/// A silo that stops answering while its connection stays open (a process stopped with SIGSTOP; a gateway killed
/// mid-call looks the same to the Orleans client, which fails such calls only at its response timeout): the Quota
/// client stops waiting after <c>Quota:Client:AnswerTimeout</c> beyond the request's wait and throws a retryable
/// <see cref="QuotaUnavailableException"/>; once the silo runs again, calls are answered.
/// </summary>
public sealed class AnswerTimeoutTests
{
    [Fact]
    public async Task A_call_the_silo_does_not_answer_fails_retryably_at_the_answer_timeout_not_the_response_timeout()
    {
        var clusterId = $"answer-timeout-{Guid.NewGuid():N}";
        await using var silo = await SiloProcess.StartAsync([], clusterId);
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddQuotaClient(options =>
        {
            options.Gateways.Add($"127.0.0.1:{silo.GatewayPort}");
            options.ClusterId = clusterId;
            options.BatchAbove = null;
            options.ResponseTimeout = TimeSpan.FromMinutes(10);
            options.AnswerTimeout = TimeSpan.FromMilliseconds(500);
        });
        using var client = builder.Build();
        await client.StartAsync(TestContext.Current.CancellationToken);
        var quota = client.Services.GetRequiredService<IQuotaClient>();
        Assert.True((await quota.AcquireAsync(new AcquireRequest { User = "paused" }, TestContext.Current.CancellationToken)).Allowed);

        silo.Pause();
        QuotaUnavailableException unanswered;
        try
        {
            unanswered = await Assert.ThrowsAsync<QuotaUnavailableException>(
                () => quota.AcquireAsync(new AcquireRequest { User = "paused" }, TestContext.Current.CancellationToken));
        }
        finally
        {
            silo.Resume();
        }

        // Not Orleans' own timeout (ten minutes here): the client's, which says which setting bounds it.
        var timeout = Assert.IsType<TimeoutException>(unanswered.InnerException);
        Assert.Contains("Quota:Client:AnswerTimeout", timeout.Message, StringComparison.Ordinal);
        Assert.True(unanswered.MayHaveBeenDecided);
        Assert.Equal(QuotaUnavailableException.DefaultRetryAfter, unanswered.RetryAfter);

        // The silo runs again (the call left waiting may have been decided: it may have taken its permit), and the next
        // call is answered.
        Assert.True((await quota.AcquireAsync(new AcquireRequest { User = "paused" }, TestContext.Current.CancellationToken)).Allowed);
        await client.StopAsync(TestContext.Current.CancellationToken);
    }
}
