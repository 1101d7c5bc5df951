import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
// The shared sheet first: each component's own sheet comes after it and wins ties.
import "./base.css";
import { App } from "./app";

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root");
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
