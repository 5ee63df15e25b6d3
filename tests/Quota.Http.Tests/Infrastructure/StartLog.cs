namespace Quota.Http.Tests.Infrastructure;

/// <summary>What a host said at start (<see cref="Quota.Testing.SiloProcess.StartOutput"/>).</summary>
public static class StartLog
{
    /// <summary>
    /// The start-up line containing <paramref name="text"/>. The host logs some lines once it is serving, so the line may
    /// follow the first answer by a moment: polled, bounded at 10 s.
    /// </summary>
    public static async Task<string> Line(Quota.Testing.SiloProcess host, string text)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            if (host.StartOutput.FirstOrDefault(line => line.Contains(text, StringComparison.Ordinal)) is { } line)
            {
                return line;
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"The host did not say '{text}' at start. It said:{Environment.NewLine}{string.Join(Environment.NewLine, host.StartOutput)}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), TestContext.Current.CancellationToken);
        }
    }
}
