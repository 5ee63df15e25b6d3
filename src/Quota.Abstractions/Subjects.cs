namespace Quota.Abstractions;

/// <summary>The kinds of subject that hold limits. Each is a grain holding its own windows.</summary>
[GenerateSerializer, Alias("quota.SubjectKind")]
public enum SubjectKind
{
    /// <summary>A user: limits across all of the user's keys.</summary>
    User = 0,

    /// <summary>An inbound API key, keyed by its peppered hash.</summary>
    ApiKey = 1,

    /// <summary>A tenant: its reserve and lease from its upstream's pool.</summary>
    Tenant = 2,

    /// <summary>An upstream's token (a credential Quota hands out), keyed <c>{upstream}/{tokenId}</c>.</summary>
    Token = 3,

    /// <summary>A configured resource such as <c>telegram</c> or <c>telegram:chat:-1001</c>.</summary>
    Resource = 4,
}

/// <summary>How urgent a request is; waiting callers are served in this order, then first come first served.</summary>
[GenerateSerializer, Alias("quota.Priority")]
public enum Priority
{
    /// <summary>Served last.</summary>
    Low = 0,

    /// <summary>The default.</summary>
    Normal = 1,

    /// <summary>Served before normal and low.</summary>
    High = 2,

    /// <summary>Served first.</summary>
    Critical = 3,
}

/// <summary>Names of subjects as they appear in answers (<c>limitedBy</c>, policy states) and URLs.</summary>
public static class SubjectNames
{
    /// <summary>The prefix of a subject kind in labels and usage URLs: user, key, tenant, token, resource.</summary>
    public static string Prefix(SubjectKind kind) => kind switch
    {
        SubjectKind.User => "user",
        SubjectKind.ApiKey => "key",
        SubjectKind.Tenant => "tenant",
        SubjectKind.Token => "token",
        SubjectKind.Resource => "resource",
        _ => "subject",
    };

    /// <summary>Parses a prefix (user, key, tenant, token, resource); case-insensitive.</summary>
    public static bool TryParsePrefix(string? text, out SubjectKind kind)
    {
        switch (text?.ToLowerInvariant())
        {
            case "user": kind = SubjectKind.User; return true;
            case "key": kind = SubjectKind.ApiKey; return true;
            case "tenant": kind = SubjectKind.Tenant; return true;
            case "token": kind = SubjectKind.Token; return true;
            case "resource": kind = SubjectKind.Resource; return true;
            default: kind = default; return false;
        }
    }

    /// <summary>
    /// The label of a subject, e.g. <c>user:alice</c>. A key is labelled by the first 12 hex digits of its hash,
    /// never by the raw key.
    /// </summary>
    public static string Label(SubjectKind kind, string id) =>
        kind == SubjectKind.ApiKey && id.Length > 12 ? $"key:{id[..12]}" : $"{Prefix(kind)}:{id}";
}
