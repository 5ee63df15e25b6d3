using Quota.Testing;

namespace Quota.Http.Tests.Infrastructure;

/// <summary>The real silo process (see <see cref="SiloProcessFixture"/>) with this suite's HTTP API client.</summary>
public abstract class SiloFixture : SiloProcessFixture
{
    /// <summary>The HTTP API of the running host.</summary>
    public QuotaApi Api { get; private set; } = null!;

    /// <summary>The <c>Authorization</c> header <see cref="Api"/> sends with every request; none by default.</summary>
    protected virtual string? Authorization => null;

    /// <inheritdoc />
    protected override void OnReady(HttpClient http) => Api = new QuotaApi(http, Authorization);
}
