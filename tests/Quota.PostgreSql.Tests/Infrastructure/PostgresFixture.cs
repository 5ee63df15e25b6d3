// One throwaway PostgreSQL server for the whole assembly (tests/Shared/PostgresFixture.cs); each test creates its own database on it.
[assembly: AssemblyFixture(typeof(Quota.Testing.PostgresFixture))]
