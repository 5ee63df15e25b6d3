using Orleans.Runtime;
using Orleans.Runtime.Messaging;

namespace Quota.Client;

/// <summary>
/// The cluster could not answer a call now, and a retry is expected to succeed: the silo hosting a subject died or
/// refused the call (it is failing over until membership declares it dead, see docs/operations.md, "Failover"), no
/// gateway could be reached or one was too busy, or no answer came in time (<c>Quota:Client:AnswerTimeout</c> beyond the
/// request's wait, or <c>Quota:Client:ResponseTimeout</c>). The
/// Orleans exception is the <see cref="Exception.InnerException"/>.
/// </summary>
/// <remarks>
/// Denials are never this exception: they are answers (<c>Allowed</c> false). A decision whose answer was lost
/// (<see cref="MayHaveBeenDecided"/>) may have taken its permit; retrying it may take a second one, which can cost the
/// caller a permit but never admits more than a limit.
/// </remarks>
public sealed class QuotaUnavailableException : Exception
{
    /// <summary>How long to wait before retrying: 1 second, as the HTTP front door's <c>Retry-After</c> for a failover.</summary>
    public static readonly TimeSpan DefaultRetryAfter = TimeSpan.FromSeconds(1);

    /// <summary>Creates the exception for <paramref name="inner"/>.</summary>
    public QuotaUnavailableException(string message, Exception inner, bool mayHaveBeenDecided)
        : base(message, inner)
    {
        MayHaveBeenDecided = mayHaveBeenDecided;
    }

    /// <summary>Creates the exception with a message only (for serialization and tests); <see cref="MayHaveBeenDecided"/> is true.</summary>
    public QuotaUnavailableException(string message)
        : base(message)
    {
        MayHaveBeenDecided = true;
    }

    /// <summary>Creates the exception with a message and an inner exception; <see cref="MayHaveBeenDecided"/> is true.</summary>
    public QuotaUnavailableException(string message, Exception inner)
        : this(message, inner, mayHaveBeenDecided: true)
    {
    }

    /// <summary>Creates the exception with the default message; <see cref="MayHaveBeenDecided"/> is true.</summary>
    public QuotaUnavailableException()
        : base("The Quota cluster could not answer now; retry shortly.")
    {
        MayHaveBeenDecided = true;
    }

    /// <summary>
    /// False when the call certainly never reached a silo's grain (no connection to a gateway, a gateway shedding load);
    /// true when it may have (its silo died, or the answer did not come in time).
    /// </summary>
    public bool MayHaveBeenDecided { get; }

    /// <summary>How long to wait before retrying. Default: <see cref="DefaultRetryAfter"/>.</summary>
    public TimeSpan RetryAfter { get; init; } = DefaultRetryAfter;

    /// <summary>
    /// Whether <paramref name="error"/> is the cluster refusing a call before processing it (no connection, a busy
    /// gateway, a silo going away that rejected it): the client retries these briefly before throwing. A silo that died
    /// (<see cref="SiloUnavailableException"/>) or an answer that did not come may have decided the call, so those are
    /// never retried by the client: a retry could take a second permit the crash bound does not count.
    /// </summary>
    public static bool IsRefusal(Exception error) =>
        error is ConnectionFailedException or GatewayTooBusyException or (OrleansMessageRejectionException and not SiloUnavailableException);

    /// <summary>
    /// The exception a caller sees for <paramref name="error"/>, an Orleans failure that a retry survives; null for anything
    /// else (a bug, a cancellation, a storage failure), which passes unchanged.
    /// </summary>
    public static QuotaUnavailableException? From(Exception error) => error switch
    {
        ConnectionFailedException => new(
            "No connection to a Quota gateway could be made (the silos are unreachable or restarting); the call was not sent. Retry shortly.", error, mayHaveBeenDecided: false),
        GatewayTooBusyException => new(
            "The Quota gateway is shedding load; the call was not processed. Retry shortly.", error, mayHaveBeenDecided: false),
        SiloUnavailableException => new(
            "The silo hosting a subject of this call died or stopped; the subject moves to a live silo once the cluster declares it dead. Retry shortly.", error, mayHaveBeenDecided: true),
        OrleansMessageRejectionException => new(
            "The cluster refused the call (a silo is stopping or failing over; the subject is moving). Retry shortly.", error, mayHaveBeenDecided: true),
        TimeoutException => new(
            "The Quota cluster did not answer in time (Quota:Client:AnswerTimeout beyond the request's wait, or ResponseTimeout; a silo may be failing over). Retry shortly.", error, mayHaveBeenDecided: true),
        _ => null,
    };
}
