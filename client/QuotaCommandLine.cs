using System.CommandLine;
using System.Net.Http;

namespace Quota.Cli;

/// <summary>Process exit codes, the same for every command.</summary>
internal static class ExitCodes
{
    /// <summary>Done; for <c>acquire</c>, allowed.</summary>
    public const int Ok = 0;

    /// <summary><c>acquire</c> was denied (HTTP 429).</summary>
    public const int Denied = 1;

    /// <summary>Bad usage, or the service answered with an error.</summary>
    public const int Error = 2;

    /// <summary>The service could not be reached (refused, unresolvable, timed out).</summary>
    public const int Unreachable = 3;
}

/// <summary>A mistake on the command line found before anything is sent; printed as is, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>The options every command takes.</summary>
internal sealed class GlobalOptions
{
    public const string DefaultUrl = "http://127.0.0.1:8080";

    public Option<string> Url { get; } = new("--url")
    {
        Description = $"The Quota service's HTTP address. Default: $QUOTA_URL, else {DefaultUrl}.",
        Recursive = true,
        HelpName = "URL",
    };

    // No default value factory: help would print the value of QUOTA_TOKEN.
    public Option<string?> Token { get; } = new("--token")
    {
        Description = "The admin bearer token (Quota:Admin:Token). Default: $QUOTA_TOKEN, which is safer: arguments are visible to other users of the machine.",
        Recursive = true,
        HelpName = "TOKEN",
    };

    public Option<bool> Json { get; } = new("--json")
    {
        Description = "Print the service's JSON answer as is instead of tables.",
        Recursive = true,
    };

    public string UrlOf(ParseResult parse) =>
        parse.GetValue(Url) is { Length: > 0 } url ? url
        : Environment.GetEnvironmentVariable("QUOTA_URL") is { Length: > 0 } env ? env
        : DefaultUrl;

    public string? TokenOf(ParseResult parse) =>
        parse.GetValue(Token) is { Length: > 0 } token ? token
        : Environment.GetEnvironmentVariable("QUOTA_TOKEN") is { Length: > 0 } env ? env
        : null;
}

/// <summary>Builds and runs the command tree.</summary>
internal static class QuotaCommandLine
{
    /// <summary>The default HTTP timeout; <c>acquire --wait</c> adds its wait.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static async Task<int> RunAsync(string[] args)
    {
        var parse = Build().Parse(args);
        var code = await parse.InvokeAsync();

        // System.CommandLine answers 1 for a bad command line; 1 means "denied" here, so usage errors are 2.
        return parse.Errors.Count > 0 ? ExitCodes.Error : code;
    }

    public static RootCommand Build()
    {
        var globals = new GlobalOptions();
        var root = new RootCommand(
            "quota: ask a Quota service for permits and administer its users, keys, resources, upstreams, tenants and scheduler over its HTTP API." + Environment.NewLine +
            "Exit codes: 0 done (acquire: allowed), 1 acquire denied, 2 error, 3 the service cannot be reached.");
        root.Options.Add(globals.Url);
        root.Options.Add(globals.Token);
        root.Options.Add(globals.Json);

        root.Subcommands.Add(DecisionCommands.Acquire(globals));
        root.Subcommands.Add(DecisionCommands.Settle(globals));
        root.Subcommands.Add(DecisionCommands.Release(globals));
        root.Subcommands.Add(DecisionCommands.Usage(globals));
        root.Subcommands.Add(BenchCommands.Bench(globals));
        root.Subcommands.Add(TenancyCommands.Feedback(globals));
        root.Subcommands.Add(AdminCommands.Users(globals));
        root.Subcommands.Add(AdminCommands.Keys(globals));
        root.Subcommands.Add(AdminCommands.Resources(globals));
        root.Subcommands.Add(TenancyCommands.Tenants(globals));
        root.Subcommands.Add(TenancyCommands.Secrets(globals));
        root.Subcommands.Add(TenancyCommands.Upstreams(globals));
        root.Subcommands.Add(SchedulerCommands.Scheduler(globals));
        root.Subcommands.Add(QueueCommands.Queues(globals));
        root.Subcommands.Add(AdminCommands.Changes(globals));
        root.Subcommands.Add(AdminCommands.Apply(globals));
        root.Subcommands.Add(DbCommands.Db(globals));
        return root;
    }

    /// <summary>
    /// Sets <paramref name="command"/>'s action: opens a session on the service and maps what can go wrong to exit
    /// codes (2 for usage mistakes, 3 when the service cannot be reached).
    /// </summary>
    public static void Runs(this Command command, GlobalOptions globals, Func<Session, ParseResult, CancellationToken, Task<int>> body, Func<ParseResult, TimeSpan>? extraTime = null)
    {
        command.SetAction(async (parse, ct) =>
        {
            var output = Output.Create(parse.GetValue(globals.Json));
            Session session;
            try
            {
                var timeout = Timeout + (extraTime?.Invoke(parse) ?? TimeSpan.Zero);
                session = Session.Open(globals.UrlOf(parse), globals.TokenOf(parse), output, timeout);
            }
            catch (UsageException e)
            {
                output.Error.WriteLine($"quota: {e.Message}");
                return ExitCodes.Error;
            }

            using (session)
            {
                try
                {
                    return await body(session, parse, ct);
                }
                catch (UsageException e)
                {
                    output.Error.WriteLine($"quota: {e.Message}");
                    return ExitCodes.Error;
                }
                catch (HttpRequestException e)
                {
                    output.Error.WriteLine(session.Unreachable(Session.Describe(e)));
                    return ExitCodes.Unreachable;
                }
                catch (TaskCanceledException) when (!ct.IsCancellationRequested)
                {
                    output.Error.WriteLine(session.Unreachable($"no answer within {session.Timeout.TotalSeconds:0} s"));
                    return ExitCodes.Unreachable;
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    output.Error.WriteLine("quota: cancelled.");
                    return ExitCodes.Error;
                }
            }
        });
    }
}
