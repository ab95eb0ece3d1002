;; A component importing an interface warden does not provide.
(component
  (import "acme:evil/net" (instance $net (export "connect" (func))))
)
