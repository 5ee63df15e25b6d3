using System.CommandLine;
using System.Text.Json;
using Npgsql;
using Quota.Storage;

namespace Quota.Cli;

/// <summary><c>quota db …</c>: the PostgreSQL schema, straight to the database (no silo needed).</summary>
internal static class DbCommands
{
    public static Command Db(GlobalOptions globals)
    {
        var connection = new Option<string?>("--connection", "-c")
        {
            Description = "The Npgsql connection string. Default: $QUOTA_DB, else $ConnectionStrings__Quota (what the silo reads).",
            HelpName = "CONNECTION",
            Recursive = true,
        };
        var migrate = new Command("migrate", "Apply the schema's pending migrations (idempotent: running it again changes nothing).");
        migrate.SetAction((parse, ct) => RunAsync(globals, parse, connection, migrate: true, ct));
        var status = new Command("status", "Show which migrations the database has and which are pending.");
        status.SetAction((parse, ct) => RunAsync(globals, parse, connection, migrate: false, ct));
        return new Command("db", "Quota's PostgreSQL schema: versioned migrations, applied by the silo at start or by `quota db migrate`.") { connection, migrate, status };
    }

    private static async Task<int> RunAsync(GlobalOptions globals, ParseResult parse, Option<string?> connectionOption, bool migrate, CancellationToken ct)
    {
        var output = Output.Create(parse.GetValue(globals.Json));
        var connectionString = parse.GetValue(connectionOption) is { Length: > 0 } given ? given
            : Environment.GetEnvironmentVariable("QUOTA_DB") is { Length: > 0 } env ? env
            : Environment.GetEnvironmentVariable("ConnectionStrings__Quota") is { Length: > 0 } silo ? silo
            : null;
        if (connectionString is null)
        {
            output.Error.WriteLine("quota: no database given; pass --connection \"Host=…;Database=quota;Username=…;Password=…\" or set QUOTA_DB.");
            return ExitCodes.Error;
        }

        string where;
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(connectionString);
            where = $"{builder.Host}:{builder.Port}/{builder.Database}";
        }
        catch (ArgumentException)
        {
            // Not the parser's message: it can quote part of a value, and values include the password.
            output.Error.WriteLine("quota: --connection is not an Npgsql connection string: write Key=Value pairs separated by ';' (Host, Port, Database, Username, Password), and quote a value that contains ';' or '=' in double quotes.");
            return ExitCodes.Error;
        }

        try
        {
            if (migrate)
            {
                var report = await SchemaMigrator.MigrateAsync(connectionString, ct);
                if (output.Json)
                {
                    output.Line(JsonSerializer.Serialize(new
                    {
                        database = where,
                        applied = report.Applied.Select(Name),
                        alreadyApplied = report.AlreadyApplied.Select(Name),
                        unknown = report.Unknown,
                    }));
                    return ExitCodes.Ok;
                }

                output.Line(report.Applied.Count == 0
                    ? $"{where}: the schema is up to date ({report.AlreadyApplied.Count} migrations); nothing applied."
                    : $"{where}: applied {string.Join(", ", report.Applied.Select(Name))}.");
                if (report.Unknown.Count > 0)
                {
                    output.Line($"{where} also has versions this build does not know ({string.Join(", ", report.Unknown)}): a newer Quota migrated it.");
                }

                return ExitCodes.Ok;
            }

            var applied = await SchemaMigrator.AppliedAsync(connectionString, ct);
            if (output.Json)
            {
                output.Line(JsonSerializer.Serialize(new
                {
                    database = where,
                    migrations = SchemaMigrator.Migrations.Select(m => new { name = Name(m), applied = applied.ContainsKey(m.Version) }),
                }));
                return ExitCodes.Ok;
            }

            var table = output.Table("MIGRATION", "STATE");
            foreach (var migration in SchemaMigrator.Migrations)
            {
                Output.Row(table, Name(migration), applied.ContainsKey(migration.Version) ? "applied" : "pending");
            }

            output.Write(table);
            return ExitCodes.Ok;
        }
        catch (SchemaMismatchException e)
        {
            output.Error.WriteLine($"quota: {where}: {e.Message}");
            return ExitCodes.Error;
        }
        catch (PostgresException e)
        {
            output.Error.WriteLine($"quota: {where} refused: {e.MessageText} ({e.SqlState}). Nothing was applied.");
            return ExitCodes.Error;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            output.Error.WriteLine($"quota: cannot reach the database at {where}: {e.Message}");
            return ExitCodes.Unreachable;
        }
    }

    private static string Name(Migration migration) => $"{migration.Version:D4}_{migration.Name}";
}
