using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using Quota.Testing;

namespace Quota.PostgreSql.Tests.Infrastructure;

/// <summary>
/// Real <c>quota-silo</c> processes in the PostgreSQL mode, all in one cluster (one cluster id, one database).
/// Disposing kills whatever still runs.
/// </summary>
public sealed class DurableCluster(string connectionString) : IAsyncDisposable
{
    /// <summary>A fixed development master key (base64 of 32 bytes) and pepper: tests only.</summary>
    public const string MasterKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    /// <summary>A pepper for the tests' API keys.</summary>
    public const string Pepper = "tests-pepper-0123456789abcdef";

    private readonly List<SiloProcess> _silos = [];

    /// <summary>
    /// The cluster id silos started from now on share. <see cref="Recreate"/> changes it: a new cluster on the same
    /// database and service id sees the same grain state, without waiting for dead silos of the old one to be voted out.
    /// </summary>
    public string ClusterId { get; private set; } = $"pg-{Guid.NewGuid():N}";

    /// <summary>From now on, silos form a new cluster (as after a whole-cluster crash and restart).</summary>
    public void Recreate() => ClusterId = $"pg-{Guid.NewGuid():N}";

    /// <summary>The database.</summary>
    public string ConnectionString { get; } = connectionString;

    /// <summary>The silos started so far (running or not).</summary>
    public IReadOnlyList<SiloProcess> Silos => _silos;

    /// <summary>Settings every silo gets: the PostgreSQL mode, this database, secrets, fast checkpoints and history, admin from loopback.</summary>
    public IEnumerable<string> Settings(params string[] extra) =>
    [
        "--Quota:Storage:Provider=postgres",
        $"--ConnectionStrings:Quota={ConnectionString}",
        $"--Quota:Secrets:MasterKeys:0={MasterKey}",
        $"--Quota:Secrets:Pepper={Pepper}",
        "--Quota:Storage:UsageFlushInterval=00:00:00.200",

        // The PostgreSQL mode turns the loopback admin rule off by default; these tests administer from loopback.
        "--Quota:Admin:AllowLoopback=true",
        .. extra,
    ];

    /// <summary>Starts one more silo in this cluster and waits until it answers.</summary>
    public async Task<SiloProcess> StartSiloAsync(params string[] extra)
    {
        var silo = await SiloProcess.StartAsync(Settings(extra), ClusterId);
        _silos.Add(silo);
        return silo;
    }

    /// <summary>Silos the membership table lists as active (status 3) for this cluster.</summary>
    public async Task<int> ActiveSilosAsync()
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM orleans_membership WHERE deployment_id = @cluster AND status = 3", connection);
        command.Parameters.AddWithValue("cluster", ClusterId);
        return Convert.ToInt32(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var silo in _silos)
        {
            await silo.DisposeAsync();
        }
    }

    /// <summary>One acquire over HTTP; true when admitted (200), false when denied (429); throws on anything else.</summary>
    public static async Task<bool> AcquireAsync(HttpClient http, object body)
    {
        using var response = await http.PostAsJsonAsync(new Uri("/v1/acquire", UriKind.Relative), body);
        return (int)response.StatusCode switch
        {
            200 => true,
            429 => false,
            _ => throw new InvalidOperationException($"acquire answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}"),
        };
    }

    /// <summary>A policy's remaining permits from <c>GET /v1/usage/user/{id}</c>.</summary>
    public static async Task<long> RemainingAsync(HttpClient http, string user, string policy)
    {
        using var document = JsonDocument.Parse(await http.GetStringAsync(new Uri($"/v1/usage/user/{user}", UriKind.Relative)));
        foreach (var state in document.RootElement.GetProperty("policies").EnumerateArray())
        {
            if (state.GetProperty("policy").GetString() == policy)
            {
                return state.GetProperty("remaining").GetInt64();
            }
        }

        throw new InvalidOperationException($"user {user} has no policy {policy}: {document.RootElement}");
    }

    /// <summary>Gives <paramref name="user"/> its own policies through the admin API.</summary>
    public static async Task SetUserPoliciesAsync(HttpClient http, string user, params object[] policies)
    {
        using var response = await http.PutAsJsonAsync(new Uri($"/v1/admin/users/{user}", UriKind.Relative), new { policies });
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"PUT user answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }
}
