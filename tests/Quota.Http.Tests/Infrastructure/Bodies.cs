using System.Text;

namespace Quota.Http.Tests.Infrastructure;

/// <summary>Request bodies of exact sizes.</summary>
public static class Bodies
{
    /// <summary>A valid acquire body for <paramref name="user"/>, padded with JSON whitespace to exactly <paramref name="bytes"/> bytes.</summary>
    public static string Padded(string user, int bytes)
    {
        var json = $"{{\"user\":\"{user}\"}}";
        var padded = json[..^1] + new string(' ', bytes - Encoding.UTF8.GetByteCount(json)) + "}";
        Assert.Equal(bytes, Encoding.UTF8.GetByteCount(padded));
        return padded;
    }
}
