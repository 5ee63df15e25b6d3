using System.Net;
using System.Text.Json.Nodes;

namespace Quota.Http.Tests.Infrastructure;

/// <summary>Policy bodies as the admin API takes them.</summary>
public static class Policies
{
    public static object FixedWindow(string name, long limit, string window = "00:01:00") =>
        new { name, algorithm = "fixed-window", limit, window };

    public static object TokenBucket(string name, long limit, string window, long? burst = null) => burst is { } b
        ? new { name, algorithm = "token-bucket", limit, window, burst = b }
        : new { name, algorithm = "token-bucket", limit, window };
}

/// <summary>The admin API (<c>/v1/admin</c>) over <see cref="QuotaApi"/>; ids are escaped as path segments.</summary>
public static class AdminApi
{
    public static Task<Reply> GetUser(this QuotaApi api, string id) => api.Get(User(id));

    public static Task<Reply> PutUser(this QuotaApi api, string id, params object[] policies) => api.PutJson(User(id), new { policies });

    public static Task<Reply> DeleteUser(this QuotaApi api, string id) => api.Delete(User(id));

    public static Task<Reply> GetResource(this QuotaApi api, string name) => api.Get(Resource(name));

    public static Task<Reply> PutResource(this QuotaApi api, string name, params object[] policies) => api.PutJson(Resource(name), new { policies });

    public static Task<Reply> DeleteResource(this QuotaApi api, string name) => api.Delete(Resource(name));

    public static Task<Reply> RegisterKey(this QuotaApi api, string user, object? body = null) => body is null
        ? api.Post($"{User(user)}/keys", new ByteArrayContent([]))
        : api.PostJson($"{User(user)}/keys", body);

    public static Task<Reply> GetKey(this QuotaApi api, string keyId) => api.Get($"/v1/admin/keys/{keyId}");

    public static Task<Reply> RevokeKey(this QuotaApi api, string keyId) => api.Delete($"/v1/admin/keys/{keyId}");

    /// <summary>POST /v1/admin/apply with a JSON or YAML document.</summary>
    public static Task<Reply> Apply(this QuotaApi api, string document, bool dryRun = false, string mediaType = "application/json") =>
        api.PostText(dryRun ? "/v1/admin/apply?dryRun=true" : "/v1/admin/apply", document, mediaType);

    /// <summary>GET /v1/admin/changes: the recorded changes, newest first.</summary>
    public static async Task<JsonArray> Changes(this QuotaApi api, string? subject = null, int? limit = null)
    {
        var query = new List<string>();
        if (subject is not null)
        {
            query.Add($"subject={Uri.EscapeDataString(subject)}");
        }

        if (limit is not null)
        {
            query.Add($"limit={limit}");
        }

        var path = query.Count == 0 ? "/v1/admin/changes" : $"/v1/admin/changes?{string.Join('&', query)}";
        return (await api.Get(path)).Expect(HttpStatusCode.OK).Json["changes"]!.AsArray();
    }

    /// <summary>The sequence number of the newest recorded change, 0 when none.</summary>
    public static async Task<long> LastChange(this QuotaApi api) =>
        (await api.Changes(limit: 1)) is [{ } newest] ? newest["sequence"]!.GetValue<long>() : 0;

    /// <summary>The ids listed by GET <paramref name="path"/> under <paramref name="property"/>.</summary>
    public static async Task<string[]> List(this QuotaApi api, string path, string property) =>
        [.. (await api.Get(path)).Expect(HttpStatusCode.OK).Json[property]!.AsArray().Select(n => n!.GetValue<string>())];

    private static string User(string id) => $"/v1/admin/users/{Uri.EscapeDataString(id)}";

    private static string Resource(string name) => $"/v1/admin/resources/{Uri.EscapeDataString(name)}";
}
