using Quota.Testing;

namespace Quota.Cli.Tests.Infrastructure;

/// <summary>The real silo process (see <see cref="SiloProcessFixture"/>) the CLI talks to.</summary>
public abstract class SiloFixture : SiloProcessFixture;
