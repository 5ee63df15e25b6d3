using Quota.Testing;

[assembly: AssemblyFixture(typeof(Quota.PostgreSql.Tests.Infrastructure.PostgresFixture))]

namespace Quota.PostgreSql.Tests.Infrastructure;

/// <summary>One throwaway PostgreSQL server for the whole assembly; each test creates its own database on it.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private PostgresServer? _server;

    /// <summary>The running server.</summary>
    public PostgresServer Server => _server ?? throw new InvalidOperationException("The PostgreSQL server has not started.");

    public async ValueTask InitializeAsync() => _server = await PostgresServer.StartAsync();

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
