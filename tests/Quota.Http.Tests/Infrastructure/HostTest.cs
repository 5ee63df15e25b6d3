namespace Quota.Http.Tests.Infrastructure;

/// <summary>
/// A test against a running host: when the test fails, the host's recent output is added to the test's output,
/// whatever assertion failed.
/// </summary>
public abstract class HostTest(SiloFixture host) : IDisposable
{
    /// <summary>The host's HTTP API.</summary>
    protected QuotaApi Api { get; } = host.Api;

    public void Dispose()
    {
        if (TestContext.Current.TestState?.Result == TestResult.Failed)
        {
            TestContext.Current.TestOutputHelper?.WriteLine(host.LogTail());
        }

        GC.SuppressFinalize(this);
    }
}
