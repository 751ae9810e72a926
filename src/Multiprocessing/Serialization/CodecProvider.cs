using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Multiprocessing.Serialization;

/// <summary>
/// Chooses how each declared type crosses the process boundary: the user's serializer if it takes
/// the type, a byte copy for types that hold no references, element-wise codecs for strings,
/// arrays and tuples, System.Text.Json for the rest. Types that mean nothing in another process
/// (delegates, streams, handles, pointers) are refused up front with an explanation.
/// </summary>
internal sealed class CodecProvider
{
    // Created on first use: loading System.Text.Json costs start-up time that a pool of ints never needs.
    // The converters make JSON exact where its defaults are not (BigInteger, lone surrogates, structs
    // with private state); the modifier refuses a derived instance in a slot declared as its base.
    private static JsonSerializerOptions JsonOptions => s_jsonOptions ??= new JsonSerializerOptions(JsonSerializerDefaults.General)
    {
        IncludeFields = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters =
        {
            new SharedObjectJsonConverterFactory(),
            new BigIntegerJsonConverter(),
            new ExactStringJsonConverter(),
            new ExactCharJsonConverter(),
            new RawStructJsonConverterFactory(),
        },
        TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { JsonContractCheck.RefuseSubstitutes } },
    };

    private static JsonSerializerOptions? s_jsonOptions;

    private readonly ConcurrentDictionary<Type, object> _codecs = new();
    private readonly IWorkerSerializer? _userSerializer;
    private JsonSerializerOptions? _jsonOptions;

    public CodecProvider(IWorkerSerializer? userSerializer, IJsonTypeInfoResolver? jsonResolver = null)
    {
        _userSerializer = userSerializer;
        JsonResolver = jsonResolver;
    }

    // Built on first use, as the shared options are (a benign race: both copies are equal).
    private JsonSerializerOptions OwnJsonOptions => _jsonOptions ??= JsonResolver is null ? JsonOptions : WithResolver(JsonResolver);

    /// <summary>The provider used when the user brings no serializer.</summary>
    public static CodecProvider Default { get; } = new(null);

    public IWorkerSerializer? UserSerializer => _userSerializer;

    /// <summary>The user's JSON metadata (a source-generated context), consulted before reflection; null for none.</summary>
    public IJsonTypeInfoResolver? JsonResolver { get; }

    /// <summary>The codecs for a channel's items: the built-in ones when the options bring nothing.</summary>
    public static CodecProvider For(IWorkerSerializer? serializer, IJsonTypeInfoResolver? jsonResolver) =>
        serializer is null && jsonResolver is null ? Default : new CodecProvider(serializer, jsonResolver);

    // The library's converters stay in Converters, where source-generated metadata honours them too
    // (a context's generated code asks the options for a runtime converter first); the user's resolver
    // answers for the types it covers, reflection for the rest, and both get the substitute check.
    private static JsonSerializerOptions WithResolver(IJsonTypeInfoResolver resolver) => new(JsonOptions)
    {
        TypeInfoResolver = JsonTypeInfoResolver.Combine(
            resolver.WithAddedModifier(JsonContractCheck.RefuseSubstitutes),
            new DefaultJsonTypeInfoResolver { Modifiers = { JsonContractCheck.RefuseSubstitutes } }),
    };

    /// <summary>The codec for <typeparamref name="T"/>.</summary>
    /// <exception cref="NotSupportedException">The type cannot cross a process boundary; the message says why and what to do.</exception>
    public Codec<T> Get<T>() => (Codec<T>)_codecs.GetOrAdd(typeof(T), static (type, self) => self.Create(type), this);

    public object Get(Type type) => _codecs.GetOrAdd(type, static (type, self) => self.Create(type), this);

    private object Create(Type type)
    {
        // Shared objects always travel as descriptors: a user serializer would copy or break them.
        if (typeof(SharedObject).IsAssignableFrom(type))
        {
            return IsSharedObject(type)
                ? Instantiate(typeof(SharedObjectCodec<>), [type])
                : throw new NotSupportedException(
                    $"Values declared as {TypeNames.Display(type)} cannot be sent to another process: the worker would not know which shared object to attach. " +
                    "Declare the concrete type (SharedArray<T>, SharedValue<T>, SharedMemory, …) in the method's signature.");
        }
        if (_userSerializer is not null && _userSerializer.CanSerialize(type))
        {
            return Instantiate(typeof(UserCodec<>), [type], _userSerializer);
        }
        if (WhyUnsupported(type) is { } reason)
        {
            throw new NotSupportedException(reason);
        }
        if (type == typeof(Unit) || type == typeof(NoArgument))
        {
            return Instantiate(typeof(EmptyCodec<>), [type]);
        }
        if (type == typeof(string))
        {
            return new StringCodec();
        }
        if (type.IsValueType && !HoldsReferences(type))
        {
            return Instantiate(typeof(UnmanagedCodec<>), [type]);
        }
        if (type.IsArray && type.GetArrayRank() == 1)
        {
            Type element = type.GetElementType()!;
            if (element.IsValueType && !HoldsReferences(element))
            {
                return Instantiate(typeof(UnmanagedArrayCodec<>), [element]);
            }
            object elementCodec = Get(element);
            if (!IsJson(elementCodec))
            {
                return Instantiate(typeof(ArrayCodec<>), [element], elementCodec);
            }
        }
        if (type.IsGenericType && type.FullName!.StartsWith("System.ValueTuple`", StringComparison.Ordinal) && type.GetGenericArguments().Length is >= 2 and <= 4)
        {
            Type[] items = type.GetGenericArguments();
            object[] codecs = items.Select(Get).ToArray();
            Type definition = items.Length switch
            {
                2 => typeof(ValueTupleCodec<,>),
                3 => typeof(ValueTupleCodec<,,>),
                _ => typeof(ValueTupleCodec<,,,>),
            };
            return Instantiate(definition, items, codecs);
        }
        // Checked once per type, here, so that a type JSON would carry only in part is refused at the
        // call (the method's registration) rather than arriving changed.
        if (JsonContractCheck.Explain(type, OwnJsonOptions) is { } loss)
        {
            throw new NotSupportedException(loss);
        }
        return Instantiate(typeof(JsonCodec<>), [type], OwnJsonOptions);
    }

    /// <summary>Whether <paramref name="type"/> is a concrete shared object that can be attached on arrival.</summary>
    public static bool IsSharedObject(Type type) =>
        typeof(SharedObject).IsAssignableFrom(type)
        && type.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(ISharedObjectFactory<>) && i.GetGenericArguments()[0] == type);

    private static bool IsJson(object codec) => codec.GetType().IsGenericType && codec.GetType().GetGenericTypeDefinition() == typeof(JsonCodec<>);

    private static object Instantiate(Type definition, Type[] typeArguments, params object[] arguments) =>
        Activator.CreateInstance(definition.MakeGenericType(typeArguments), arguments)!;

    internal static bool HoldsReferences(Type type) => s_holdsReferences.GetOrAdd(type, static type =>
        (bool)typeof(RuntimeHelpers).GetMethod(nameof(RuntimeHelpers.IsReferenceOrContainsReferences))!.MakeGenericMethod(type).Invoke(null, null)!);

    private static readonly ConcurrentDictionary<Type, bool> s_holdsReferences = new();

    private static bool IsMemory(Type type) =>
        type.IsGenericType && (type.GetGenericTypeDefinition() == typeof(Memory<>) || type.GetGenericTypeDefinition() == typeof(ReadOnlyMemory<>));

    /// <summary>Why values of <paramref name="type"/> cannot travel to another process, or null when they can.</summary>
    public static string? WhyUnsupported(Type type) => WhyUnsupported(type, type, depth: 0);

    private static string? WhyUnsupported(Type type, Type root, int depth)
    {
        string name = TypeNames.Display(root);
        if (type.IsPointer || type.IsFunctionPointer || type == typeof(IntPtr) || type == typeof(UIntPtr))
        {
            return depth == 0
                ? $"{name} is a pointer; an address has no meaning in another process. Pass the data it points to (an array) instead."
                : $"{name} contains a pointer ({TypeNames.Display(type)}); an address has no meaning in another process. Pass the data it points to (an array) instead.";
        }
        if (typeof(Delegate).IsAssignableFrom(type))
        {
            return $"{name} is a delegate and cannot be sent to another process. Call a static method in the task instead, or pass the data the delegate would work on.";
        }
        if (typeof(Stream).IsAssignableFrom(type) || typeof(System.Runtime.InteropServices.SafeHandle).IsAssignableFrom(type) || typeof(WaitHandle).IsAssignableFrom(type)
            || typeof(Task).IsAssignableFrom(type) || type == typeof(Thread) || typeof(MemberInfo).IsAssignableFrom(type)
            || (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(ValueTask<>)) || type == typeof(ValueTask) || type == typeof(CancellationToken))
        {
            string hint = type == typeof(CancellationToken)
                ? "Declare a CancellationToken as the method's last parameter instead: the pool passes a token that is cancelled when the caller cancels."
                : "It is tied to this process. Pass what it refers to instead (a path, the bytes).";
            return $"{name} cannot be sent to another process. {hint}";
        }
        if (type == typeof(object) || type == typeof(ValueType) || type == typeof(Enum))
        {
            return $"Values declared as {name} cannot be sent to another process: the worker would not know which type to rebuild (JSON would hand it a JsonElement). Declare the concrete type instead, or register an IWorkerSerializer.";
        }
        // Memory<T> keeps its array as an object field; System.Text.Json writes it as its elements.
        if (depth < 4 && type.IsValueType && !type.IsPrimitive && !type.IsEnum && !IsMemory(type))
        {
            foreach (FieldInfo field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
            {
                if (field.FieldType != type && WhyUnsupported(field.FieldType, root, depth + 1) is { } reason)
                {
                    return reason;
                }
            }
        }
        if (type.IsArray)
        {
            return WhyUnsupported(type.GetElementType()!, root, depth + 1);
        }
        return null;
    }
}
