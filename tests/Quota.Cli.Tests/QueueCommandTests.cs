using Quota.Cli.Tests.Infrastructure;

namespace Quota.Cli.Tests;

/// <summary><c>quota queues list|show|enqueue|dead|requeue|purge</c>, on a queue defined with <c>quota apply</c> (YAML).</summary>
public sealed class QueueCommandTests(OpenSilo host) : CliTest(host)
{
    [Fact]
    public async Task A_queue_defined_by_apply_is_enqueued_to_and_shown()
    {
        var queue = Ids.New("cli-q-");
        var resource = Ids.New("cli-q-res-");
        var document = TempFile("queue.yaml", $"""
            resources:
              {resource}:
                policies:
                  - {"{"} name: per-hour, algorithm: fixed-window, limit: 10, window: "01:00:00" {"}"}
            queues:
              {queue}:
                dispatch:
                  resources: ["{resource}"]
                maxAttempts: 3
            """);
        var applied = Exits(0, await Cli.Run("apply", "-f", document));
        var row = Assert.IsType<string[]>(Row(applied, "queue:" + queue));
        Assert.Equal(new[] { "queue:" + queue, "create" }, row[..2]);
        Assert.StartsWith($"none → dispatch: resources: [\"{resource}\"]", row[2], StringComparison.Ordinal);
        Assert.Contains("maxAttempts: 3", row[2], StringComparison.Ordinal);

        Assert.Equal($"enqueued job-1", Exits(0, await Cli.Run("queues", "enqueue", queue, "--id", "job-1", "--payload", "{\"n\":1}", "--priority", "high")).Lines[0]);
        Assert.Equal($"already held job-1", Exits(0, await Cli.Run("queues", "enqueue", queue, "--id", "job-1", "--payload", "{\"n\":1}")).Lines[0]);
        Exits(0, await Cli.Run("queues", "enqueue", queue, "--payload", "2"));

        var shown = Exits(0, await Cli.Run("queues", "show", queue));
        HasLine(shown.Stdout, @"^depth:\s+critical 0, high 1, normal 1, low 0$", shown);
        HasLine(shown.Stdout, @"^allowed:\s+0\.167 a minute$", shown);
        HasLine(shown.Stdout, @"^workers:\s+1 worth running$", shown);
        var json = Json(Exits(0, await Cli.Run("queues", "show", queue, "--json")));
        Assert.Equal(1, json["depth"]!["high"]!.GetValue<int>());

        // Listed by name (a page starting just before this queue's name) with its depth and the workers worth running.
        var listed = Exits(0, await Cli.Run("queues", "list", "--after", queue[..^1], "--limit", "1"));
        Assert.Equal(new[] { queue, "2", "0", "0", "0", "1" }, Row(listed, queue));
        Exits(2, await Cli.Run("queues", "list", "--limit", "0"));

        var watched = Exits(0, await Cli.Run("queues", "show", queue, "--watch", "0.1", "--times", "2"));
        Assert.Equal(2, watched.Lines.Count(l => l.StartsWith("queue:", StringComparison.Ordinal)));

        Assert.Equal("no dead letters.", Exits(0, await Cli.Run("queues", "dead", queue)).Lines[0]);
        Assert.Equal("requeued 0", Exits(0, await Cli.Run("queues", "requeue", queue)).Lines[0]);
        Assert.Equal("purged 0", Exits(0, await Cli.Run("queues", "purge", queue, "job-1")).Lines[0]);
    }

    [Fact]
    public async Task An_unknown_queue_is_a_404_naming_it()
    {
        var unknown = Exits(2, await Cli.Run("queues", "show", Ids.New("cli-q-none-")));
        HasLine(unknown.Stderr, @"^quota: Unknown subject \(HTTP 404\)$", unknown);
        HasLine(unknown.Stderr, @"^  name: no queue '", unknown);
    }
}
